// TEMPORARY SHIM (cluster branch only, removed before merge): straw2-like placement with the rs engineer's signatures.
import { blake3 } from "../wasm/index.ts";

export interface PlacementMember {
  id: string;
  family: string;
  weight: number;
}

export class PlacementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlacementError";
  }
}

const enc = new TextEncoder();

function u32(parts: string): number {
  const h = blake3(enc.encode(parts));
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

export function pgOf(fileHash: string, stripeIndex: number, pgCount: number): number {
  return u32(`pg|${fileHash}|${stripeIndex}`) % pgCount;
}

export function placePg(pg: number, members: readonly PlacementMember[], count: number, opts: { allowFamilyReuse?: boolean } = {}): string[] {
  const live = members.filter((m) => m.weight > 0);
  const families = new Set(live.map((m) => m.family));
  if (live.length < count) throw new PlacementError(`need ${count} members, have ${live.length}`);
  if (!opts.allowFamilyReuse && families.size < count) throw new PlacementError(`need ${count} families, have ${families.size}`);
  const out: string[] = [];
  const usedF = new Set<string>();
  const used = new Set<string>();
  for (let r = 0; r < count; r++) {
    let chosen: PlacementMember | undefined;
    for (let attempt = 0; attempt < 100 && !chosen; attempt++) {
      let best = -Infinity;
      let pick: PlacementMember | undefined;
      for (const m of live) {
        const u = (u32(`${pg}|${r}|${attempt}|${m.id}`) + 1) / 4294967297;
        const draw = Math.log(u) / m.weight;
        if (draw > best) {
          best = draw;
          pick = m;
        }
      }
      if (pick && !used.has(pick.id) && (opts.allowFamilyReuse || !usedF.has(pick.family))) chosen = pick;
    }
    if (!chosen) {
      chosen = live.find((m) => !used.has(m.id) && (opts.allowFamilyReuse || !usedF.has(m.family)));
      if (!chosen) throw new PlacementError("no eligible member");
    }
    used.add(chosen.id);
    usedF.add(chosen.family);
    out.push(chosen.id);
  }
  return out;
}
