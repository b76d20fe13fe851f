// net/: web-standard fetch helpers shared by every layer (browser-safe: no Node APIs).
import { concatBytes } from "../wasm/hex.ts";

/**
 * Reads a fetch Response's body whole, at most `max` bytes. Returns null, with the body cancelled, when the declared
 * Content-Length or the bytes that arrive exceed `max`; a missing body reads as empty. `onChunk` is called as each
 * chunk arrives (for timing). Errors of the read itself (abort, reset) propagate.
 */
export async function readCapped(res: Response, max: number, onChunk?: (bytes: number) => void): Promise<Uint8Array | null> {
  if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`max must be a byte count, got ${max}`);
  const declared = Number(res.headers.get("content-length") ?? "-1");
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined);
    return null;
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    onChunk?.(value.byteLength);
    parts.push(value);
  }
  return parts.length === 1 ? parts[0]! : concatBytes(parts, total);
}
