// BUD-04 origin fetch: GET the mirrored blob from an allowed host (redirects followed only to allowed hosts), bounded
// in size and time; the bytes go straight into the store's verified import, never back to the caller.
import { BlossomError } from "../blossom/errors.ts";
import { checkOrigin } from "../blossom/mirror.ts";
import { parseType } from "../blossom/mime.ts";

/** Redirects followed from the origin (each to an allowed host). */
const MAX_REDIRECTS = 3;

/** An origin answer ready to be read. */
export interface MirrorSource {
  body: AsyncIterable<Uint8Array>;
  /** Content-Length of the origin's answer, when it sent one. */
  size?: number;
  /** Its Content-Type, when well-formed. */
  type?: string;
  /** Cancels the fetch (after a refusal, or when the client left). */
  cancel(): void;
}

/** Options of {@link fetchMirror}. */
export interface FetchMirrorOptions {
  hosts: readonly string[];
  maxBytes: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Starts the fetch of `url`; refuses a failed or oversized answer before its body is read. */
export async function fetchMirror(url: URL, opts: FetchMirrorOptions): Promise<MirrorSource> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new Error(`the origin took longer than ${opts.timeoutMs} ms`)), opts.timeoutMs);
  timer.unref();
  const onAbort = () => stop.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const cancel = () => {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    if (!stop.signal.aborted) stop.abort(new Error("mirror cancelled"));
  };
  try {
    let at = url;
    for (let hop = 0; ; hop++) {
      checkOrigin(at, opts.hosts);
      let res: Response;
      try {
        res = await fetch(at, { redirect: "manual", signal: stop.signal, headers: { "accept-encoding": "identity" } });
      } catch (err) {
        throw new BlossomError("mirror-fetch", `cannot fetch ${at.host}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      if (res.status >= 300 && res.status < 400 && res.headers.get("location")) {
        await res.body?.cancel().catch(() => undefined);
        if (hop >= MAX_REDIRECTS) throw new BlossomError("mirror-fetch", `the origin redirected more than ${MAX_REDIRECTS} times`);
        try {
          at = new URL(res.headers.get("location")!, at);
        } catch (err) {
          throw new BlossomError("mirror-fetch", "the origin redirected to a malformed URL", { cause: err });
        }
        continue;
      }
      if (res.status !== 200 || !res.body) {
        await res.body?.cancel().catch(() => undefined);
        throw new BlossomError("mirror-fetch", `the origin answered ${res.status} for ${at.host}${at.pathname.slice(0, 100)}`);
      }
      const cl = res.headers.get("content-length");
      const size = cl !== null && /^\d{1,15}$/.test(cl) ? Number(cl) : undefined;
      if (size !== undefined && size > opts.maxBytes) {
        await res.body.cancel().catch(() => undefined);
        throw new BlossomError("too-large", `the origin's blob is ${size} bytes; this server takes at most ${opts.maxBytes} (blossom.max_upload_size)`);
      }
      let type: string | undefined;
      try {
        type = parseType(res.headers.get("content-type") ?? undefined);
      } catch {
        type = undefined;
      }
      const stream = res.body;
      const body = (async function* () {
        try {
          for await (const piece of stream) yield piece as Uint8Array;
        } finally {
          cancel();
        }
      })();
      return { body, ...(size !== undefined ? { size } : {}), ...(type !== undefined ? { type } : {}), cancel };
    }
  } catch (err) {
    cancel();
    throw err;
  }
}
