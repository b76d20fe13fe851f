// Public face of the blob store: the contract, both implementations, errors and helpers.
export type * from "./types.ts";
export * from "./errors.ts";
export { ChunkedBlobStore, DEFAULT_CHUNK_SIZE, type StoreOptions } from "./chunked-store.ts";
export { MemoryBlobStore } from "./memory.ts";
export { LmdbBlobStore, type LmdbStoreOptions, type StoreAudit } from "./lmdb.ts";
export { Semaphore } from "./semaphore.ts";
export { ByteLru } from "./lru.ts";
export { isBlobId, toHex, defaultHashing, type BlobHashing, type OutboardBuilder } from "./hashing.ts";
