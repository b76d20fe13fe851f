// The components a full node runs, wired explicitly in start order: each factory is handed what it needs.
import type { Assemble } from "./node.ts";
import { minerComponent, validatorComponent } from "./cluster.ts";
import { mediaComponent } from "./media.ts";
import { payComponent } from "./pay.ts";
import { storeComponent } from "./store.ts";

/**
 * `slowdrip run`: pay (wallet and gates), then the blob store behind the gates, then the cluster role
 * (`cluster.role`: a miner keeps its shards in the store; a validator coordinates), then the live edge on the store.
 */
export const fullNode: Assemble = async (base, add) => {
  const pay = add(await payComponent(base));
  const store = add(await storeComponent(base, { gates: pay.gates }));
  const role = base.config["cluster.role"];
  if (role === "miner") add(await minerComponent(base, { store: store.store }));
  else if (role === "validator") add(await validatorComponent(base));
  add(await mediaComponent(base, { store: store.store, gate: pay.gates.http }));
};

/** Only the blob store, free to read (tests and benches of the store). */
export const storeOnly: Assemble = async (base, add) => {
  add(await storeComponent(base));
};
