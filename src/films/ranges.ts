// Large film blobs in verified ranges: each range is a standard Bao slice (GET /blobs/<hash> with Range and `x-bao:
// slice`) checked against the blob's BLAKE3 before use, fetched in parallel across holders, each within a timeout; a
// holder whose slice does not verify is dropped for the blob and the range is asked of the next holder, then the origin.
import { unhex } from "../identity/hex.ts";
import { readCapped } from "../net/capped.ts";
import { BaoVerifyError, baoVerifySlice } from "../wasm/index.ts";
import { FilmError } from "./errors.ts";

/** Request header and value asking for a Bao slice (see http/blobs.ts). */
const BAO_HEADER = "x-bao";

/** One answer to a range request: the response, and whether it was paid for. */
export interface RangeAnswer {
  response: Response;
  paid: boolean;
}

/** Options of {@link fetchRanges}. */
export interface RangeFetchOptions {
  hash: string;
  size: number;
  /** Bytes per range (a multiple of 16 KiB keeps the holders' slices cheap). */
  rangeSize: number;
  /** Most ranges in flight at once (and held in memory before they are consumed). */
  parallel: number;
  /** One range request must complete within this, ms. */
  timeoutMs: number;
  /** Holder endpoints (shuffled by the caller); range i asks holder i mod n first. */
  holders: string[];
  /** Origin endpoints, asked for a range after every holder failed it. */
  origins: string[];
  /** Sends one request (paying a 402 when the caller can); `holder` is false for an origin. */
  get(url: string, headers: Record<string, string>, signal: AbortSignal, bytes: number, holder: boolean): Promise<RangeAnswer>;
  /** Whether a holder was dropped for this blob (checked before every try). */
  isBad(endpoint: string): boolean;
  /** Drops a holder for this blob (its slice did not verify). */
  markBad(endpoint: string): void;
  /** Told where every range came from. */
  onRange?(source: "peer" | "paid" | "origin", endpoint: string, index: number): void;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/** Largest slice of a `len`-byte range: the content, one 64-byte parent pair per chunk, the header and the spine. */
export function maxSliceBytes(len: number): number {
  return len + Math.ceil(len / 1024) * 64 + 8 + 64 * 64;
}

/**
 * Fetches the blob's ranges and yields their verified bytes in order. Throws FilmError unavailable when a range came
 * from nowhere. Stopping the iteration aborts the requests still in flight.
 */
export async function* fetchRanges(o: RangeFetchOptions): AsyncGenerator<Uint8Array, void, undefined> {
  const root = unhex(o.hash, 32);
  const count = Math.ceil(o.size / o.rangeSize);
  const stop = new AbortController();
  // Holders that failed a request (unreachable, timed out, no slice): later ranges skip them while another is left.
  const down = new Set<string>();

  const one = async (index: number): Promise<Uint8Array> => {
    const start = index * o.rangeSize;
    const len = Math.min(o.rangeSize, o.size - start);
    const order = o.holders.length ? [...o.holders.slice(index % o.holders.length), ...o.holders.slice(0, index % o.holders.length)] : [];
    const tries: [string, boolean][] = [...order.map((h) => [h, true] as [string, boolean]), ...o.origins.map((u) => [u, false] as [string, boolean])];
    for (const [ep, holder] of tries) {
      if (stop.signal.aborted) throw stop.signal.reason;
      if (holder && (o.isBad(ep) || (down.has(ep) && o.holders.some((h) => !down.has(h) && !o.isBad(h))))) continue;
      const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(o.timeoutMs)]);
      try {
        const a = await o.get(`${ep}/blobs/${o.hash}`, { range: `bytes=${start}-${start + len - 1}`, [BAO_HEADER]: "slice" }, signal, len, holder);
        const res = a.response;
        if (res.status !== 206 || res.headers.get(BAO_HEADER) !== "slice") {
          await res.body?.cancel().catch(() => undefined);
          o.log.info({ hash: o.hash, endpoint: ep, status: res.status, range: index }, "films: no Bao slice for the range");
          if (holder) down.add(ep);
          continue;
        }
        const slice = (await readCapped(res, maxSliceBytes(len))) ?? undefined;
        let data: Uint8Array;
        try {
          if (!slice) throw new BaoVerifyError("trailing-data", 0, "the slice is larger than the range allows");
          data = baoVerifySlice(root, slice, start, len);
          if (data.byteLength !== len) throw new BaoVerifyError("length-mismatch", 0, `the slice holds ${data.byteLength} of ${len} bytes`);
        } catch (err) {
          if (!(err instanceof BaoVerifyError) && !(err instanceof RangeError)) throw err;
          if (holder) o.markBad(ep);
          o.log.warn({ hash: o.hash, endpoint: ep, range: index, err: (err as Error).message }, "films: holder sent a range that does not verify against the hash; dropped for this blob");
          continue;
        }
        o.onRange?.(!holder ? "origin" : a.paid ? "paid" : "peer", ep, index);
        return data;
      } catch (err) {
        if (stop.signal.aborted) throw err;
        if (holder) down.add(ep);
        o.log.info({ hash: o.hash, endpoint: ep, range: index, err: (err as Error).message }, "films: range request failed");
      }
    }
    throw new FilmError(`no holder or origin delivered range ${index} of blob ${o.hash}`, "unavailable");
  };

  const window: Promise<Uint8Array>[] = [];
  let next = 0;
  const fill = () => {
    while (next < count && window.length < Math.max(1, o.parallel)) {
      const p = one(next++);
      // Settled later (in order); a rejection is seen when its turn comes.
      p.catch(() => undefined);
      window.push(p);
    }
  };
  try {
    fill();
    while (window.length) {
      const data = await window.shift()!;
      fill();
      yield data;
    }
  } finally {
    stop.abort(new FilmError("the range fetch was stopped", "unavailable"));
  }
}
