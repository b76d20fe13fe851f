// Gateway reads: each stripe from any k holders (needed data shards first, then the fastest others), every shard
// verified against its BLAKE3, missing or corrupt shards rebuilt, corrupt ones reported.
import type { Logger } from "../node/logger.ts";
import { StripeUnreadableError } from "../cluster/errors.ts";
import { fetchShard } from "../cluster/keeper.ts";
import { decodeStripe, stripesOfRange } from "../cluster/layout.ts";
import { openSignedMap, type ClusterMap } from "../cluster/map.ts";
import type { Peer, ShardFetcher } from "../cluster/net.ts";
import type { ValidatorStats } from "../cluster/stats.ts";
import { placeOne, type PlacementCache, type PlacementTable } from "../cluster/table.ts";
import { GROUP_LEN, baoSliceFromCompact, blake3Hex } from "../wasm/index.ts";
import { FileNotFoundError, FileRangeError } from "./errors.ts";
import type { FileRecord, ManifestStore } from "./manifests.ts";
import type { Registry } from "./registry.ts";

/** Longest one shard fetch may take while reading. */
const READ_TIMEOUT_MS = 30_000;
/** Stripes read ahead of the one being streamed. */
const READ_AHEAD = 4;
/** Largest range served with a proof (the slice is built in memory). */
export const MAX_PROOF_RANGE = 16 * 1024 * 1024;

/** A shard that failed verification. */
export interface CorruptShard {
  member: Peer;
  hash: string;
  file: string;
  stripe: number;
  position: number;
  got: string;
}

/** What reads need. */
export interface ReaderDeps {
  manifests: ManifestStore;
  registry: Registry;
  placement: PlacementCache;
  fetcher: ShardFetcher;
  /** Earlier epochs whose holders are tried when the placed one fails (the kept history). */
  lookback: number;
  onCorrupt: (c: CorruptShard) => void;
  stats: ValidatorStats;
  log: Logger;
}

/** Reads files from the miners. */
export class FileReader {
  readonly #d: ReaderDeps;
  /** Mean fetch time per member (ms), for "fastest first". */
  readonly #speed = new Map<string, number>();
  readonly #old = new Map<number, ClusterMap | null>();

  constructor(deps: ReaderDeps) {
    this.#d = deps;
  }

  /** A committed file's manifest; throws FileNotFoundError. */
  manifest(hash: string): FileRecord {
    const f = this.#d.manifests.get(hash);
    if (!f) throw new FileNotFoundError(hash);
    return f;
  }

  /** Clamps a range to the file; throws FileRangeError when it starts past the end. */
  static clamp(f: FileRecord, offset: number, length: number | undefined): { offset: number; length: number } {
    if (offset > f.size || (offset === f.size && f.size > 0)) throw new FileRangeError(offset, f.size);
    return { offset, length: Math.min(length ?? f.size - offset, f.size - offset) };
  }

  /** Streams [offset, offset + length) of a file, a few stripes ahead. */
  async *read(hash: string, offset: number, length: number | undefined, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const f = this.manifest(hash);
    const r = FileReader.clamp(f, offset, length);
    const { first, last } = stripesOfRange(r.offset, r.length, f.stripeSize);
    // Each stripe is read with the placement of the epoch current when its read starts: a long read can span epochs.
    const part = (i: number) => {
      const base = i * f.stripeSize;
      const p = this.#table().then((table) => this.#stripe(f, i, Math.max(r.offset, base) - base, Math.min(r.offset + r.length, base + f.stripes[i]!.dataLength) - base, table, signal));
      p.catch(() => undefined); // awaited below; this only keeps an early failure from being unhandled
      return p;
    };
    // Up to READ_AHEAD stripes are fetched while the caller consumes the current one (memory: that many stripes).
    const ahead: Promise<Uint8Array>[] = [];
    let next = first;
    for (let i = first; i <= last; i++) {
      while (next <= last && ahead.length < READ_AHEAD) ahead.push(part(next++));
      const bytes = await ahead.shift()!;
      this.#d.stats.readBytes += bytes.length;
      yield bytes;
    }
  }

  /** [offset, offset + length) of a file in memory. */
  async range(f: FileRecord, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let at = 0;
    for await (const piece of this.read(f.hash, offset, length, signal)) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }

  /** The standard Bao slice of [offset, offset + length) against the file's hash (length at most 16 MiB). */
  async slice(f: FileRecord, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (length > MAX_PROOF_RANGE) throw new RangeError(`a range with proof may be at most ${MAX_PROOF_RANGE} bytes`);
    const outboard = this.#d.manifests.outboard(f.hash);
    if (!outboard) throw new FileNotFoundError(f.hash);
    // The slice re-hashes the 16 KiB groups it covers: read them in one go.
    const from = Math.floor(offset / GROUP_LEN) * GROUP_LEN;
    const to = Math.min(f.size, Math.max(Math.ceil((offset + length) / GROUP_LEN) * GROUP_LEN, from + GROUP_LEN));
    const cover = to > from ? await this.range(f, from, to - from, signal) : new Uint8Array(0);
    return baoSliceFromCompact(f.size, outboard, async (o, n) => (o >= from && o + n <= to ? cover.slice(o - from, o - from + n) : this.range(f, o, n, signal)), offset, length);
  }

  /** The current placement (possibly impossible, e.g. too few families: earlier epochs' holders are tried then). */
  #table(): Promise<PlacementTable> {
    return this.#d.placement.get(this.#d.registry.current().map);
  }

  /** A kept earlier map (parsed once), or null. */
  #oldMap(epoch: number): ClusterMap | null {
    if (!this.#old.has(epoch)) {
      let m: ClusterMap | null = null;
      try {
        m = openSignedMap(this.#d.registry.signedAt(epoch), this.#d.registry.current().map.validator);
      } catch {
        m = null;
      }
      this.#old.set(epoch, m);
      if (this.#old.size > 64) this.#old.delete(this.#old.keys().next().value!);
    }
    return this.#old.get(epoch)!;
  }

  /**
   * Holders to try for one position: the placed one, then its holders in the kept earlier epochs (newest first) that
   * the registry does not know to be down, at the endpoint they registered last.
   */
  #candidates(table: PlacementTable, pg: number, position: number): Peer[] {
    const cur = table.map;
    const out: Peer[] = [];
    const seen = new Set<string>();
    const add = (id: string | undefined) => {
      if (id === undefined || seen.has(id)) return;
      seen.add(id);
      const r = this.#d.registry.record(id);
      if (r && r.state !== "down") out.push({ nodeId: id, endpoint: r.endpoint });
    };
    if (!table.error) add(table.holder(pg, position));
    for (let e = cur.epoch - 1; e >= 1 && e >= cur.epoch - this.#d.lookback; e--) {
      const m = this.#oldMap(e);
      if (!m) continue;
      try {
        add(placeOne(m, pg)[position]);
      } catch {
        // placement was impossible in that epoch
      }
    }
    return out;
  }

  /** One position's verified bytes from the first candidate that has them. */
  async #fetch(f: FileRecord, index: number, position: number, peers: Peer[], tried: string[], signal?: AbortSignal): Promise<Uint8Array> {
    const s = f.stripes[index]!;
    const hash = s.shards[position]!;
    for (const peer of peers) {
      signal?.throwIfAborted();
      const t0 = performance.now();
      try {
        const bytes = await fetchShard(this.#d.fetcher, peer, hash, s.shardSize, signal, READ_TIMEOUT_MS);
        const got = blake3Hex(bytes);
        if (got !== hash) {
          tried.push(`position ${position} from ${peer.nodeId.slice(0, 12)}: corrupt`);
          this.#d.onCorrupt({ member: peer, hash, file: f.hash, stripe: index, position, got });
          this.#note(peer.nodeId, READ_TIMEOUT_MS);
          continue;
        }
        this.#note(peer.nodeId, performance.now() - t0);
        return bytes;
      } catch (err) {
        if (signal?.aborted) throw err;
        this.#note(peer.nodeId, READ_TIMEOUT_MS);
        tried.push(`position ${position} from ${peer.nodeId.slice(0, 12)}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (peers.length === 0) tried.push(`position ${position}: no live holder known`);
    throw new Error(`position ${position}: no holder answered with verified bytes`);
  }

  #note(member: string, ms: number): void {
    const prev = this.#speed.get(member);
    this.#speed.set(member, prev === undefined ? ms : prev * 0.7 + ms * 0.3);
    if (this.#speed.size > 8192) this.#speed.delete(this.#speed.keys().next().value!);
  }

  /** Bytes [from, to) of stripe `index` (offsets within the stripe). */
  async #stripe(f: FileRecord, index: number, from: number, to: number, table: PlacementTable, signal?: AbortSignal): Promise<Uint8Array> {
    const s = f.stripes[index]!;
    const { k, m } = f;
    const size = s.shardSize;
    const shards: (Uint8Array | null)[] = new Array(k + m).fill(null);
    const tried: string[] = [];
    const cands = (p: number) => this.#candidates(table, s.pg, p);
    const needed: number[] = [];
    for (let p = 0; p < k; p++) if (p * size < to && (p + 1) * size > from) needed.push(p);
    const attempted = new Set<number>();
    const fetchSome = async (positions: number[]) => {
      const r = await Promise.allSettled(positions.map((p) => (attempted.add(p), this.#fetch(f, index, p, cands(p), tried, signal))));
      r.forEach((x, i) => {
        if (x.status === "fulfilled") shards[positions[i]!] = x.value;
      });
    };
    await fetchSome(needed);
    if (needed.every((p) => shards[p] !== null)) {
      const out = new Uint8Array(to - from);
      for (const p of needed) {
        const a = Math.max(from, p * size);
        const b = Math.min(to, (p + 1) * size);
        out.set(shards[p]!.subarray(a - p * size, b - p * size), a - from);
      }
      return out;
    }
    // Some needed data shard failed: read enough others, fastest holders first, and decode.
    const speed = (p: number) => this.#speed.get(cands(p)[0]?.nodeId ?? "") ?? 0;
    const rest = [...Array(k + m).keys()].filter((p) => !attempted.has(p)).sort((a, b) => speed(a) - speed(b) || a - b);
    let have = shards.filter((x) => x !== null).length;
    while (have < k && rest.length > 0) {
      await fetchSome(rest.splice(0, k - have));
      have = shards.filter((x) => x !== null).length;
    }
    signal?.throwIfAborted();
    if (have < k) {
      this.#d.log.warn({ file: f.hash, stripe: index, epoch: table.map.epoch, have, need: k, tried }, "stripe unreadable");
      throw new StripeUnreadableError(f.hash, index, have, k, tried);
    }
    this.#d.stats.readRebuilds += needed.filter((p) => shards[p] === null).length;
    const { data } = decodeStripe(shards, k, m, s.dataLength);
    return data.slice(from, to);
  }
}
