// The components a full node runs, in start order. Each concern adds its factory here.
import type { ComponentFactory } from "./node.ts";
import { mediaComponent } from "./media.ts";
import { payComponent } from "./pay.ts";
import { storeComponent } from "./store.ts";

/** Factories used by `slowdrip run`. */
export const components: ComponentFactory[] = [
  payComponent,
  storeComponent,
  mediaComponent,
];
