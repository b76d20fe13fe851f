// Runs the BlobStore contract on the LMDB store, each case in a fresh environment directory.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { runBlobStoreContract } from "./contract.ts";
import { LmdbBlobStore } from "./lmdb.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runBlobStoreContract("lmdb", async (options) => {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-store-"));
  dirs.push(dir);
  const path = join(dir, "db");
  const store = await LmdbBlobStore.open({ ...options, path });
  return {
    store,
    reopen: async () => {
      await store.close();
      return LmdbBlobStore.open({ ...options, path });
    },
  };
});
