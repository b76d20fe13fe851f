// Shard placement shared by validator and miners: stripes hash to placement groups; a PG's shard positions go to
// members by CRUSH-style straw2 (indep mode) with a fixed-point log, so every CPU and architecture agrees. Pure.
import { deriveKey, isBlobId, fromHex, keyedHash } from "../wasm/index.ts";
import { C1, C2, C3, LOGHI, RECIP } from "./placement-ln.ts";

/** A cluster member as placement sees it. */
export interface PlacementMember {
  id: string;
  /** Failure domain: no two shards of a stripe share one (unless reuse is allowed). */
  family: string;
  /** Relative share of shards; 0 = never chosen. */
  weight: number;
}

/** Options of placePg. */
export interface PlaceOptions {
  /** With fewer families than positions, let families hold more than one position (never one member twice). */
  allowFamilyReuse?: boolean;
}

/** Too few families (or members) with weight > 0 for the positions asked for. */
export class PlacementError extends Error {
  /** The families that have a member with weight > 0 (sorted). */
  readonly familiesAvailable: readonly string[];
  /** Distinct families needed (the position count) or, with family reuse, members needed. */
  readonly needed: number;
  /** Members with weight > 0. */
  readonly membersAvailable: number;
  constructor(message: string, familiesAvailable: readonly string[], needed: number, membersAvailable: number) {
    super(message);
    this.name = "PlacementError";
    this.familiesAvailable = familiesAvailable;
    this.needed = needed;
    this.membersAvailable = membersAvailable;
  }
}

/** Most members placement accepts in one map. */
export const MAX_MEMBERS = 65536;
/** Most shard positions per placement group. */
export const MAX_POSITIONS = 256;
/** Most placement groups. */
export const MAX_PG_COUNT = 1 << 24;
/** Draws per hash: 64 bytes of BLAKE3 output give 16 words. */
const BLOCK = 16;

const MEMBER_KEY_CONTEXT = "slowdrip 2025-06 straw2 member key v1";
const PG_KEY = deriveKey("slowdrip 2025-06 placement group key v1", new Uint8Array(0));

/**
 * 2^32 * log2(v / 2^24) for an integer v in [1, 2^24], as an integer (<= 0), from integer arithmetic only: exact
 * in IEEE doubles (every product stays below 2^53), so every platform gets the same value. Within a few 2^-32 units
 * of the true value.
 */
export function log2Fixed(v: number): number {
  if (v >= 0x1000000) return 0;
  const e = 31 - Math.clz32(v);
  const x = v << (23 - e); // mantissa in [2^23, 2^24)
  const i = (x >>> 15) & 0xff;
  // y = x / (1 + i/256) in [2^31, 2^31 + 2^23]; LOGHI[i] is log2 of the factor taken out.
  const z = Math.floor((x * RECIP[i]!) / 65536) - 0x80000000;
  const z2 = z * z;
  const t1 = Math.floor((z * C1) / 0x10000000);
  const t2 = Math.floor((Math.floor(z2 / 0x10000) * C2) / 0x2000000000);
  const t3 = Math.floor((Math.floor((Math.floor(z2 / 0x800000) * z) / 0x800000) * C3) / 0x10000000000);
  return (e - 24) * 0x100000000 + LOGHI[i]! + t1 - t2 + t3;
}

/**
 * Placement group of a stripe: BLAKE3 (keyed, placement-group domain) over the file hash's 32 bytes and the stripe
 * index as u64 little-endian, the first 8 output bytes as a u64 little-endian, mod pgCount.
 */
export function pgOf(fileHash: string, stripeIndex: number, pgCount: number): number {
  if (!isBlobId(fileHash)) throw new TypeError("pgOf: fileHash must be a BLAKE3-256 hash as 64 lowercase hex characters");
  if (!Number.isSafeInteger(stripeIndex) || stripeIndex < 0) throw new RangeError(`pgOf: stripeIndex must be a non-negative integer, got ${stripeIndex}`);
  checkPgCount(pgCount, "pgOf");
  const msg = new Uint8Array(40);
  msg.set(fromHex(fileHash));
  const dv = new DataView(msg.buffer);
  dv.setBigUint64(32, BigInt(stripeIndex), true);
  const h = new DataView(keyedHash(PG_KEY, msg).buffer);
  return Number(h.getBigUint64(0, true) % BigInt(pgCount));
}

/** Members of one map, checked and prepared (sorted by id, hash keys derived). */
interface Prepared {
  /** Snapshot of the input, to notice a caller that changed the array after it was prepared. */
  snapshot: Array<[string, string, number]>;
  /** Members with weight > 0, sorted by id. */
  ids: string[];
  weights: Float64Array;
  family: Int32Array;
  keys: Uint8Array[];
  /** Family names with weight > 0, sorted; family[i] indexes it. */
  families: string[];
}

const prepared = new WeakMap<readonly PlacementMember[], Prepared>();

function prepare(members: readonly PlacementMember[]): Prepared {
  if (!Array.isArray(members)) throw new TypeError("placePg: members must be an array");
  const cached = prepared.get(members);
  if (cached && sameMembers(cached.snapshot, members)) return cached;
  if (members.length > MAX_MEMBERS) throw new RangeError(`placePg: at most ${MAX_MEMBERS} members, got ${members.length}`);
  const seen = new Set<string>();
  members.forEach((m, i) => {
    if (typeof m !== "object" || m === null) throw new TypeError(`placePg: member ${i} is not an object`);
    if (typeof m.id !== "string" || m.id.length === 0 || m.id.length > 1024) throw new TypeError(`placePg: member ${i}: id must be a string of 1..1024 characters`);
    if (typeof m.family !== "string" || m.family.length === 0 || m.family.length > 256) {
      throw new TypeError(`placePg: member ${m.id}: family must be a string of 1..256 characters`);
    }
    if (typeof m.weight !== "number" || !Number.isFinite(m.weight) || m.weight < 0) {
      throw new RangeError(`placePg: member ${m.id}: weight must be a finite number >= 0, got ${m.weight}`);
    }
    if (seen.has(m.id)) throw new RangeError(`placePg: member id ${m.id} appears twice`);
    seen.add(m.id);
  });
  const live = members.filter((m) => m.weight > 0).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const families = [...new Set(live.map((m) => m.family))].sort();
  const famIndex = new Map(families.map((f, i) => [f, i]));
  const enc = new TextEncoder();
  const p: Prepared = {
    snapshot: members.map((m) => [m.id, m.family, m.weight]),
    ids: live.map((m) => m.id),
    weights: Float64Array.from(live, (m) => m.weight),
    family: Int32Array.from(live, (m) => famIndex.get(m.family)!),
    keys: live.map((m) => deriveKey(MEMBER_KEY_CONTEXT, enc.encode(m.id))),
    families,
  };
  prepared.set(members, p);
  return p;
}

function sameMembers(snap: Array<[string, string, number]>, members: readonly PlacementMember[]): boolean {
  if (snap.length !== members.length) return false;
  for (let i = 0; i < snap.length; i++) {
    const [id, family, weight] = snap[i]!;
    const m = members[i]!;
    if (m.id !== id || m.family !== family || m.weight !== weight) return false;
  }
  return true;
}

/**
 * straw2 draws of placement group `pg`: d[pos * n + i] = ln(u) / weight of member i for shard position pos, with u
 * the top 24 bits of word pos % 16 of BLAKE3(member key; pg, pos / 16), ln as the fixed-point log2Fixed.
 */
function straw2Draws(p: Prepared, pg: number, count: number): Float64Array {
  const n = p.ids.length;
  const d = new Float64Array(count * n);
  const msg = new Uint8Array(8);
  const dv = new DataView(msg.buffer);
  dv.setUint32(0, pg, true);
  for (let b = 0; b * BLOCK < count; b++) {
    dv.setUint32(4, b, true);
    for (let i = 0; i < n; i++) {
      const h = keyedHash(p.keys[i]!, msg, { length: 64 });
      for (let j = 0; j < BLOCK && b * BLOCK + j < count; j++) {
        const u = h[4 * j + 1]! | (h[4 * j + 2]! << 8) | (h[4 * j + 3]! << 16);
        d[(b * BLOCK + j) * n + i] = log2Fixed(u + 1) / p.weights[i]!;
      }
    }
  }
  return d;
}

/**
 * The member index for each of `count` positions. Every position ranks all members by its own straw2 draw (its
 * first choice is the plain straw2 winner); positions then propose down their rankings (deferred acceptance) and a
 * family, when more positions want it than it may hold, keeps the proposals with the largest draws. The outcome
 * does not depend on the order of proposals, and dropping a member no position ended up with changes nothing.
 */
function assign(p: Prepared, pg: number, count: number, cap: number): Int32Array {
  const n = p.ids.length;
  const d = straw2Draws(p, pg, count);
  /** The member position pos ranks next after (lastDraw, lastMember): largest draw, ties to the smaller index; -1 at the end. */
  const after = (pos: number, lastDraw: number, lastMember: number) => {
    const base = pos * n;
    let best = -1;
    let bestDraw = -Infinity;
    for (let i = 0; i < n; i++) {
      const di = d[base + i]!;
      if (di > lastDraw || (di === lastDraw && i <= lastMember)) continue;
      if (best < 0 || di > bestDraw) {
        best = i;
        bestDraw = di;
      }
    }
    return best;
  };
  /** Whether position a's proposal (draw da) outranks position b's (draw db). */
  const beats = (a: number, da: number, b: number, db: number) => da > db || (da === db && a < b);
  const match = new Int32Array(count).fill(-1);
  const holder = new Int32Array(n).fill(-1);
  const famHeld: number[][] = p.families.map(() => []);
  /** The last member each position proposed to (-1: none yet). */
  const last = new Int32Array(count).fill(-1);
  const release = (pos: number) => {
    const m = match[pos]!;
    match[pos] = -1;
    holder[m] = -1;
    const list = famHeld[p.family[m]!]!;
    list.splice(list.indexOf(pos), 1);
  };
  const free = Array.from({ length: count }, (_, i) => count - 1 - i);
  const unplaced: number[] = [];
  while (free.length > 0) {
    const pos = free.pop()!;
    for (;;) {
      const prev = last[pos]!;
      const m = prev < 0 ? after(pos, Infinity, -1) : after(pos, d[pos * n + prev]!, prev);
      if (m < 0) {
        unplaced.push(pos);
        break;
      }
      last[pos] = m;
      const draw = d[pos * n + m]!;
      const rival = holder[m]!;
      if (rival >= 0) {
        if (!beats(pos, draw, rival, d[rival * n + m]!)) continue;
        release(rival);
        free.push(rival);
      }
      const held = famHeld[p.family[m]!]!;
      if (held.length >= cap) {
        // The weakest proposal the family holds.
        let weakest = held[0]!;
        for (const q of held) if (beats(weakest, d[weakest * n + match[weakest]!]!, q, d[q * n + match[q]!]!)) weakest = q;
        if (!beats(pos, draw, weakest, d[weakest * n + match[weakest]!]!)) continue;
        release(weakest);
        free.push(weakest);
      }
      match[pos] = m;
      holder[m] = pos;
      held.push(pos);
      break;
    }
  }
  // Only with family reuse, when big families cannot take their share: any member nobody holds, by ranking.
  for (const pos of unplaced.sort((a, b) => a - b)) {
    let m = after(pos, Infinity, -1);
    while (holder[m] !== -1) m = after(pos, d[pos * n + m]!, m);
    match[pos] = m;
    holder[m] = pos;
  }
  return match;
}

/**
 * The member for each of `count` shard positions of placement group `pg` (CRUSH straw2, indep mode: a position's
 * choice changes only when its member leaves or weights change, and a failed member moves its own shards plus, in
 * the uncommon case where its replacement outranks another position's member, the ones that displaces). No two
 * positions share a family unless allowFamilyReuse; with too few families it throws a PlacementError naming the
 * families available and needed. The result does not depend on the order of `members`.
 */
export function placePg(pg: number, members: readonly PlacementMember[], count: number, opts?: PlaceOptions): string[] {
  if (!Number.isInteger(pg) || pg < 0 || pg >= 2 ** 32) throw new RangeError(`placePg: pg must be an integer in 0..2^32-1, got ${pg}`);
  if (!Number.isInteger(count) || count < 0 || count > MAX_POSITIONS) {
    throw new RangeError(`placePg: count must be an integer in 0..${MAX_POSITIONS}, got ${count}`);
  }
  const p = prepare(members);
  const reuse = opts?.allowFamilyReuse === true;
  const n = p.ids.length;
  const nf = p.families.length;
  if (!reuse && nf < count) {
    throw new PlacementError(
      `placement: ${count} shard positions need ${count} families, but only ${nf} have members with weight > 0` +
        ` (${p.families.join(", ") || "none"}); add families or allow family reuse`,
      p.families, count, n,
    );
  }
  if (n < count) {
    throw new PlacementError(
      `placement: ${count} shard positions need ${count} members with weight > 0, but there are ${n}` +
        ` (families: ${p.families.join(", ") || "none"})`,
      p.families, count, n,
    );
  }
  if (count === 0) return [];
  // Each family holds at most 1 position, or with reuse the fewest that still fit every position.
  const match = assign(p, pg, count, reuse ? Math.ceil(count / nf) : 1);
  return Array.from(match, (i) => p.ids[i]!);
}

/** placePg for every placement group 0..pgCount-1. */
export function placeAll(pgCount: number, members: readonly PlacementMember[], count: number, opts?: PlaceOptions): string[][] {
  checkPgCount(pgCount, "placeAll");
  const out: string[][] = [];
  for (let pg = 0; pg < pgCount; pg++) out.push(placePg(pg, members, count, opts));
  return out;
}

function checkPgCount(pgCount: number, what: string): void {
  if (!Number.isInteger(pgCount) || pgCount < 1 || pgCount > MAX_PG_COUNT) {
    throw new RangeError(`${what}: pgCount must be an integer in 1..${MAX_PG_COUNT}, got ${pgCount}`);
  }
}
