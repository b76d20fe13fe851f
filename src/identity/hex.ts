// Lowercase hex encoding for identity files and ids.

/** Bytes to lowercase hex. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Hex to bytes; RangeError unless the string is even-length hex (optionally of an exact byte length). */
export function unhex(s: string, bytes?: number): Uint8Array {
  if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new RangeError("not a hex string");
  if (bytes !== undefined && s.length !== bytes * 2) throw new RangeError(`expected ${bytes} bytes of hex, got ${s.length / 2}`);
  return new Uint8Array(Buffer.from(s, "hex"));
}
