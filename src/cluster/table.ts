// Placement of every placement group under one map (straw2 via placement.ts), computed once per epoch and shared.
import { PlacementError, placePg, type PlacementMember } from "./placement.ts";
import { PlacementUnavailableError } from "./errors.ts";
import type { ClusterMap } from "./map.ts";

/** The members straw2 draws from: listed members with a weight above 0. */
export function placementMembers(map: ClusterMap): PlacementMember[] {
  return map.members.filter((m) => m.weight > 0 && m.state === "up").map((m) => ({ id: m.id, family: m.family, weight: m.weight }));
}

/** Holder ids per shard position of one PG under `map`; throws PlacementUnavailableError when the rule cannot be met. */
export function placeOne(map: ClusterMap, pg: number, members: readonly PlacementMember[] = placementMembers(map)): string[] {
  try {
    return placePg(pg, members, map.dataShards + map.parityShards, { allowFamilyReuse: map.allowFamilyReuse });
  } catch (err) {
    if (err instanceof PlacementError) throw new PlacementUnavailableError(map.epoch, err.message, { cause: err });
    throw err;
  }
}

/**
 * Every PG's holders under one map. Holders are stored as indexes into `ids` (2 bytes per shard position), so a table
 * of 16384 PGs with 6 shards takes under 200 KiB. `error` is set (and every lookup throws it) when placement is
 * impossible, e.g. with fewer families than shards per stripe.
 */
export class PlacementTable {
  readonly map: ClusterMap;
  readonly width: number;
  readonly ids: readonly string[];
  readonly error: PlacementUnavailableError | undefined;
  readonly #slots: Uint16Array;

  private constructor(map: ClusterMap, ids: string[], slots: Uint16Array, error: PlacementUnavailableError | undefined) {
    this.map = map;
    this.width = map.dataShards + map.parityShards;
    this.ids = ids;
    this.#slots = slots;
    this.error = error;
  }

  /** Computes the table, yielding to the event loop every `yieldEvery` PGs so heartbeats keep flowing. */
  static async build(map: ClusterMap, opts: { signal?: AbortSignal; yieldEvery?: number } = {}): Promise<PlacementTable> {
    const members = placementMembers(map);
    const ids = members.map((m) => m.id);
    const index = new Map(ids.map((id, i) => [id, i]));
    const width = map.dataShards + map.parityShards;
    const slots = new Uint16Array(map.pgCount * width);
    const every = opts.yieldEvery ?? 128;
    for (let pg = 0; pg < map.pgCount; pg++) {
      if (pg % every === every - 1) {
        await new Promise((r) => setImmediate(r));
        opts.signal?.throwIfAborted();
      }
      let holders: string[];
      try {
        holders = placeOne(map, pg, members);
      } catch (err) {
        if (err instanceof PlacementUnavailableError) return new PlacementTable(map, ids, new Uint16Array(0), err);
        throw err;
      }
      for (let p = 0; p < width; p++) slots[pg * width + p] = index.get(holders[p]!)!;
    }
    return new PlacementTable(map, ids, slots, undefined);
  }

  #check(pg: number): void {
    if (this.error) throw this.error;
    if (!Number.isInteger(pg) || pg < 0 || pg >= this.map.pgCount) throw new RangeError(`pg ${pg} is outside 0..${this.map.pgCount - 1}`);
  }

  /** Holder of each shard position of `pg`. */
  holders(pg: number): string[] {
    this.#check(pg);
    const out: string[] = [];
    for (let p = 0; p < this.width; p++) out.push(this.ids[this.#slots[pg * this.width + p]!]!);
    return out;
  }

  /** Holder of one shard position. */
  holder(pg: number, position: number): string {
    this.#check(pg);
    if (!Number.isInteger(position) || position < 0 || position >= this.width) throw new RangeError(`position ${position} is outside 0..${this.width - 1}`);
    return this.ids[this.#slots[pg * this.width + position]!]!;
  }

  /** PGs in which `member` holds at least one position, ascending. */
  pgsOf(member: string): number[] {
    if (this.error) throw this.error;
    const i = this.ids.indexOf(member);
    if (i < 0) return [];
    const out: number[] = [];
    for (let pg = 0; pg < this.map.pgCount; pg++) {
      for (let p = 0; p < this.width; p++) {
        if (this.#slots[pg * this.width + p] === i) {
          out.push(pg);
          break;
        }
      }
    }
    return out;
  }

  /** Shard positions per member id across all PGs (the "PG spread"). */
  spread(): Map<string, number> {
    const out = new Map<string, number>(this.ids.map((id) => [id, 0]));
    if (this.error) return out;
    for (const s of this.#slots) out.set(this.ids[s]!, (out.get(this.ids[s]!) ?? 0) + 1);
    return out;
  }
}

/** Tables of the last few maps, keyed by epoch, built once each (concurrent callers share the build). */
export class PlacementCache {
  readonly #keep: number;
  readonly #tables = new Map<number, Promise<PlacementTable>>();

  constructor(keep = 4) {
    this.#keep = keep;
  }

  /** The table of `map`'s epoch. */
  get(map: ClusterMap): Promise<PlacementTable> {
    let t = this.#tables.get(map.epoch);
    if (!t) {
      t = PlacementTable.build(map);
      this.#tables.set(map.epoch, t);
      t.catch(() => this.#tables.delete(map.epoch));
      while (this.#tables.size > this.#keep) this.#tables.delete(Math.min(...this.#tables.keys()));
    }
    return t;
  }
}
