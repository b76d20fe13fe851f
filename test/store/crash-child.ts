// Child process for the crash test: opens the LMDB store and imports a generated blob, printing progress lines.
// usage: node crash-child.ts DB_PATH SIZE SEED   -> prints "progress N" lines, "committing", then "done HASH SIZE CREATED".
import { LmdbBlobStore } from "../../src/store/lmdb.ts";
import { generate } from "./gen.ts";

const [path, sizeArg, seedArg] = process.argv.slice(2);
const size = Number(sizeArg);
const seed = Number(seedArg);
const store = await LmdbBlobStore.open({ path: path as string });
process.stdout.write(`open swept=${store.swept.imports}/${store.swept.chunks}\n`);
let next = 0;
const source = generate(seed, size, 256 * 1024, (sent) => {
  if (sent >= next) {
    process.stdout.write(`progress ${sent}\n`);
    next += 4 * 1024 * 1024;
  }
  if (sent === size) process.stdout.write("committing\n");
});
const r = await store.import(source, { size });
process.stdout.write(`done ${r.hash} ${r.size} ${r.created}\n`);
await store.close();
