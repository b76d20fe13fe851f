// Runs the BlobStore contract on the in-memory store.
import { runBlobStoreContract } from "./contract.ts";
import { MemoryBlobStore } from "./memory.ts";

runBlobStoreContract("memory", async (options) => ({ store: new MemoryBlobStore(options) }));
