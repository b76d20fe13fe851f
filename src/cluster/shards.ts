// A miner's own records in LMDB: which stripe positions each held shard fills, orphan clocks, and recent maps.
import type { Database, RootDatabase } from "lmdb";
import type { ShardRef } from "./layout.ts";
import type { SignedMap } from "./map.ts";

/** Most stripe positions one shard hash is recorded for (identical shards of different files share a hash). */
export const MAX_REFS_PER_SHARD = 64;

const hex8 = (n: number) => n.toString(16).padStart(8, "0");

/** Key of a ref: PG first, so a PG's refs are one range. */
export function refKey(ref: ShardRef): string {
  return `${hex8(ref.pg)}:${ref.file}:${hex8(ref.stripe)}:${ref.position.toString(16).padStart(3, "0")}`;
}

function parseRefKey(key: string): ShardRef {
  const [pg, file, stripe, position] = key.split(":");
  return { pg: parseInt(pg!, 16), file: file!, stripe: parseInt(stripe!, 16), position: parseInt(position!, 16) };
}

/**
 * The miner's shard records, in the node's LMDB environment:
 *   cluster-refs       refKey          -> shard hash
 *   cluster-hashrefs   hash:refKey     -> 1              (the same, by hash)
 *   cluster-orphans    hash            -> Unix ms        when the shard was first seen unplaced
 *   cluster-miner      "maps"          -> SignedMap[]    the last few verified maps
 */
export class ShardIndex {
  readonly #root: RootDatabase;
  readonly #refs: Database<string, string>;
  readonly #byHash: Database<number, string>;
  readonly #orphans: Database<number, string>;
  readonly #state: Database<unknown, string>;

  constructor(root: RootDatabase) {
    this.#root = root;
    this.#refs = root.openDB<string, string>({ name: "cluster-refs" });
    this.#byHash = root.openDB<number, string>({ name: "cluster-hashrefs" });
    this.#orphans = root.openDB<number, string>({ name: "cluster-orphans" });
    this.#state = root.openDB<unknown, string>({ name: "cluster-miner" });
  }

  /** Records that `hash` fills `ref` (replacing another hash recorded there). */
  async addRef(ref: ShardRef, hash: string): Promise<void> {
    const key = refKey(ref);
    if (this.#refs.get(key) === hash) return;
    await this.#root.transaction(() => {
      const old = this.#refs.get(key);
      if (old !== undefined) this.#byHash.remove(`${old}:${key}`);
      if (this.#count(hash) >= MAX_REFS_PER_SHARD) return;
      this.#refs.put(key, hash);
      this.#byHash.put(`${hash}:${key}`, 1);
    });
  }

  #count(hash: string): number {
    let n = 0;
    for (const _ of this.#byHash.getKeys({ start: `${hash}:`, end: `${hash};` })) n++;
    return n;
  }

  /** The stripe positions recorded for a shard. */
  refsOf(hash: string): ShardRef[] {
    const out: ShardRef[] = [];
    for (const k of this.#byHash.getKeys({ start: `${hash}:`, end: `${hash};` })) out.push(parseRefKey((k as string).slice(hash.length + 1)));
    return out;
  }

  /** Forgets every ref of a shard and its orphan clock (after it was deleted). */
  async forget(hash: string): Promise<void> {
    const keys = [...this.#byHash.getKeys({ start: `${hash}:`, end: `${hash};` })] as string[];
    await this.#root.transaction(() => {
      for (const k of keys) {
        const rk = k.slice(hash.length + 1);
        if (this.#refs.get(rk) === hash) this.#refs.remove(rk);
        this.#byHash.remove(k);
      }
      this.#orphans.remove(hash);
    });
  }

  /** When the shard was first seen unplaced; starts its clock at `now` if it has none. */
  async orphanSince(hash: string, now: number): Promise<number> {
    const t = this.#orphans.get(hash);
    if (t !== undefined) return t;
    await this.#orphans.put(hash, now);
    return now;
  }

  /** Starts a shard's orphan clock again at `now` (its copy just became redundant). */
  async restartOrphan(hash: string, now: number): Promise<void> {
    await this.#orphans.put(hash, now);
  }

  /** Stops a shard's orphan clock (it is placed here again). */
  async clearOrphan(hash: string): Promise<void> {
    if (this.#orphans.get(hash) !== undefined) await this.#orphans.remove(hash);
  }

  /** The last verified maps, oldest first. */
  maps(): SignedMap[] {
    const v = this.#state.get("maps");
    return Array.isArray(v) ? (v as SignedMap[]) : [];
  }

  /** Saves the last verified maps. */
  async saveMaps(maps: SignedMap[]): Promise<void> {
    await this.#state.put("maps", maps);
  }
}
