// The components a full node runs, wired explicitly in start order: each factory is handed what it needs.
import type { Assemble } from "./node.ts";
import { mediaComponent } from "./media.ts";
import { payComponent } from "./pay.ts";
import { manifestSegments, proofsComponent } from "./proofs.ts";
import { storeComponent } from "./store.ts";
import { webComponent } from "./web.ts";

/**
 * `slowdrip run`: pay (wallet and gates), then the blob store behind the gates, then the live edge on the store, then
 * the proofs (storage challenges on the store, receipts against the live manifests, presence), then the web pages and
 * the tracker (over the live manifests).
 */
export const fullNode: Assemble = async (base, add) => {
  const pay = add(await payComponent(base));
  const store = add(await storeComponent(base, { gates: pay.gates }));
  const media = add(await mediaComponent(base, { store: store.store, gate: pay.gates.http }));
  add(await proofsComponent(base, { store: store.store, segments: manifestSegments(media.ingest) }));
  add(await webComponent(base, { ingest: media.ingest }));
};

/** Only the blob store, free to read (tests and benches of the store). */
export const storeOnly: Assemble = async (base, add) => {
  add(await storeComponent(base));
};
