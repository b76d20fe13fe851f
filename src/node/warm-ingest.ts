// Pays the live ingest's one-time costs (the SHA-256 worker's start, BLAKE3's and Ed25519's first use, WebCrypto's
// first digest) when the media component starts, not on a stream's first segments: measured cold, they took
// 150-600 ms, and a publisher's first two segments arrive together, so the second one waited behind the first.
import { defaultHashing } from "../store/hashing.ts";
import { sha256Stream } from "../store/sha256-worker.ts";
import { signStatement } from "../stream/signing.ts";

/** Runs each hashing and signing path of a segment's ingest once on a throwaway buffer; never throws. */
export async function warmIngestPaths(nodeSecret: Uint8Array): Promise<void> {
  const bytes = new Uint8Array(256 * 1024).fill(0x47);
  try {
    const side = sha256Stream();
    await side.update(bytes);
    await side.digest();
    const b = await defaultHashing.newBuilder();
    b.update(bytes);
    b.finish();
    await crypto.subtle.digest("SHA-256", bytes);
    // A statement no one ever sees (nothing leaves this function): only the signing tables are kept.
    signStatement("MANIFEST_ROOT", { warmUp: true }, nodeSecret);
  } catch {
    // Only a warm-up: the first segment pays the cost instead.
  }
}
