// The components a full node runs, wired explicitly in start order: each factory is handed what it needs.
import type { Assemble } from "./node.ts";
import { blossomComponent } from "./blossom.ts";
import { minerComponent, validatorComponent } from "./cluster.ts";
import { filmsComponent } from "./films.ts";
import { mediaComponent } from "./media.ts";
import { nostrComponent } from "./nostr.ts";
import { payComponent } from "./pay.ts";
import { manifestSegments, proofsComponent } from "./proofs.ts";
import { storeComponent } from "./store.ts";
import { webComponent } from "./web.ts";

/**
 * `slowdrip run`: pay (wallet and gates), then the blob store behind the gates, then Blossom on the store (paid through
 * the same gates), then the cluster role (`cluster.role`: a miner keeps its shards in the store; a validator
 * coordinates), then the live edge on the store, then Nostr (the node's key, its adverts
 * from the prices, the seeded blobs and the live paths), then the film catalog (read through Nostr), then the proofs (storage challenges on the store, receipts against the
 * live manifests, presence); in a cluster the map's validator and wardens may challenge, and its members may prove
 * presence; then the web pages and the tracker (over the live manifests).
 */
export const fullNode: Assemble = async (base, add) => {
  const pay = add(await payComponent(base));
  const store = add(await storeComponent(base, { gates: pay.gates }));
  add(await blossomComponent(base, { store: store.store, gate: pay.pay.gate, readGate: pay.gates.http }));
  const role = base.config["cluster.role"];
  const cluster = role === "miner" ? add(await minerComponent(base, { store: store.store })) : role === "validator" ? add(await validatorComponent(base)) : undefined;
  const media = add(await mediaComponent(base, { store: store.store, gate: pay.gates.http }));
  const nostr = add(await nostrComponent(base, { pricing: pay.pay.pricing, acceptedMints: () => pay.pay.gate.acceptedMints(), unit: pay.pay.wallet.unit, store: store.store, live: media.watcher }));
  add(
    await filmsComponent(base, {
      pool: () => nostr.nostr.pool,
      publisher: () => nostr.nostr.publisher,
      nostrPubkey: nostr.nostr.key.pubkey,
      store: store.store,
      wallet: pay.pay.wallet,
      gate: pay.gates.http,
      rpcGate: pay.gates.rpc,
      onRefresh: () => void nostr.nostr.advertiseSeeds().catch(() => undefined),
    }),
  );
  const view = cluster?.view;
  add(
    await proofsComponent(base, {
      store: store.store,
      segments: manifestSegments(media.ingest),
      ...(view ? { mayChallenge: (id: string) => id === view.validatorId || view.wardens().includes(id), allowProver: (id: string) => view.member(id) !== undefined } : {}),
    }),
  );
  add(await webComponent(base, { ingest: media.ingest }));
};

/** Only the blob store, free to read (tests and benches of the store). */
export const storeOnly: Assemble = async (base, add) => {
  add(await storeComponent(base));
};
