// V8 heap tuning for the long-running node process (`slowdrip run`).
//
// The node keeps a small, steady JavaScript heap (about 20 MB live) while bytes stream through it in external buffers.
// V8 sizes the old generation's next limit from its allocation rate: a low rate gives the smallest growing factor
// (1.1), so the limit ends up only a few MB above the live heap, less than the young generation may hold. Then
// incremental marking starts again right after every full collection, and a miner storing shards ran a full
// mark-compact of its whole heap every few Store calls (a quarter to half of its CPU time went to the collector). A
// fixed growing factor of 3 keeps the limit at three times the live heap after each full collection, and full
// collections become rare: in the cluster upload bench a miner's resident size grew by ~20 MB (160 -> 180 MB) and the
// miners' CPU time per upload fell by ~40 % (factor 2: ~30 %). A fresh, quiet process gets V8's largest factor (4). The flag is read whenever V8 computes a limit, so setting it at start-up is enough;
// it is process-wide (worker threads share it).
import { setFlagsFromString } from "node:v8";

/** The old generation may grow to (1 + this/100) times its live size before the next full collection. */
export const HEAP_GROWING_PERCENT = 200;

/** Applies the node's heap tuning (see the file header). Idempotent. */
export function tuneHeap(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
