// Argument checks of the blob store's entry points: hashes, counts, tags, record keys and records, SHA-256 lists.
import { InvalidHashError } from "./errors.ts";
import { isBlobId } from "./hashing.ts";
import { isSha256 } from "./sha256-index.ts";
import type { StoreRecords } from "./types.ts";
import { MAX_RECORD_KEY } from "./types.ts";

/** Most tags one blob carries. */
export const MAX_TAGS = 64;
const MAX_TAG_LENGTH = 128;

/** The hash if it is a blob id; else InvalidHashError. */
export function checkHash(hash: unknown): string {
  if (!isBlobId(hash)) throw new InvalidHashError(String(hash));
  return hash;
}

/** The key if it is a valid record key (1..MAX_RECORD_KEY characters); else TypeError. */
export function checkRecordKey(key: unknown): string {
  if (typeof key !== "string" || key.length < 1 || key.length > MAX_RECORD_KEY) throw new TypeError(`record keys are strings of 1-${MAX_RECORD_KEY} characters`);
  return key;
}

/** The records if they are an object of at most 64 valid keys; else TypeError or RangeError. */
export function checkRecords(records: unknown): StoreRecords {
  if (records === null || typeof records !== "object" || Array.isArray(records)) throw new TypeError("records must be an object of key -> value");
  const keys = Object.keys(records);
  if (keys.length > 64) throw new RangeError("at most 64 records per write");
  for (const k of keys) checkRecordKey(k);
  return records as StoreRecords;
}

/** Throws TypeError unless `v` is a SHA-256 or a list of 1..64 of them (ImportOptions.expectedSha256). */
export function checkSha256s(v: unknown): void {
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || list.length > 64 || !list.every(isSha256)) {
    throw new TypeError("expectedSha256 must be a SHA-256 (64 lowercase hex) or a list of 1..64 of them");
  }
}

/** The value if it is a safe integer >= min; else RangeError naming it. */
export function checkCount(name: string, v: unknown, min = 0): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

/** The tags, deduplicated and sorted, if they are at most MAX_TAGS strings of 1..MAX_TAG_LENGTH characters; else TypeError or RangeError. */
export function checkTags(tags: unknown): string[] {
  if (!Array.isArray(tags)) throw new TypeError("tags must be an array of strings");
  if (tags.length > MAX_TAGS) throw new RangeError(`at most ${MAX_TAGS} tags, got ${tags.length}`);
  for (const t of tags) {
    if (typeof t !== "string" || t.length === 0 || t.length > MAX_TAG_LENGTH) {
      throw new RangeError(`each tag must be a string of 1..${MAX_TAG_LENGTH} characters`);
    }
  }
  return [...new Set(tags as string[])].sort();
}
