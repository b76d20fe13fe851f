// Public face of the blob store: the contract, both implementations, errors and helpers.
export type * from "./types.ts";
export * from "./errors.ts";
export { ChunkedBlobStore, DEFAULT_CHUNK_SIZE, type StoreOptions } from "./chunked-store.ts";
export { MemoryBlobStore } from "./memory.ts";
export { LmdbBlobStore, type LmdbStoreOptions, type StoreAudit } from "./lmdb.ts";
export { Semaphore } from "./semaphore.ts";
export { ByteLru } from "./lru.ts";
export { Sha256MismatchError, isSha256, migrateSha256, type Sha256MigrationProgress, type Sha256MigrationOptions } from "./sha256-index.ts";
export { sha256Stream, type Sha256Stream } from "./sha256-worker.ts";
export { isBlobId, toHex, defaultHashing, type BlobHashing, type OutboardBuilder } from "./hashing.ts";
