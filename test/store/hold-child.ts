// Child process for the ownership test: opens the LMDB store, says "open", and holds it until killed.
import { LmdbBlobStore } from "../../src/store/lmdb.ts";

const store = await LmdbBlobStore.open({ path: process.argv[2] as string });
process.stdout.write(`open ${store.usage().blobCount}\n`);
setInterval(() => undefined, 1 << 30);
