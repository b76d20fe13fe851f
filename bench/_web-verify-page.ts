// Bench-only page (bench/web.ts serves it in place of the player's script): times the check of one real segment in
// the browser with the player's own code - BLAKE3 in the WASM core against SHA-256 in WebCrypto.
import { initWasm } from "../src/wasm/browser.ts";
import { checkSegment } from "../src/stream/verify.ts";
import type { SignedManifest } from "../src/stream/manifest.ts";

async function run(): Promise<unknown> {
  await initWasm();
  const path = decodeURIComponent(location.pathname.slice("/watch/".length));
  const base = new URL(`/live/${path.split("/").map(encodeURIComponent).join("/")}/`, location.origin);
  const sm = (await (await fetch(new URL("manifest.json", base))).json()) as SignedManifest;
  const e = sm.manifest.segments.at(-1)!;
  const bytes = new Uint8Array(await (await fetch(new URL(`${e.blake3}.ts`, base))).arrayBuffer());
  const time = async (hash: "blake3" | "sha256") => {
    for (let i = 0; i < 3; i++) if (await checkSegment(e, bytes, hash)) throw new Error(`${hash} check failed`);
    // Browsers coarsen performance.now() (100 us here): time batches of 20 checks, median of 9 batches.
    const runs: number[] = [];
    for (let i = 0; i < 9; i++) {
      const t = performance.now();
      for (let j = 0; j < 20; j++) await checkSegment(e, bytes, hash);
      runs.push((performance.now() - t) / 20);
    }
    runs.sort((a, b) => a - b);
    return runs[Math.floor(runs.length / 2)]!;
  };
  return { bytes: bytes.byteLength, blake3Ms: await time("blake3"), sha256Ms: await time("sha256") };
}

(window as unknown as { __bench: Promise<unknown> }).__bench = run();
