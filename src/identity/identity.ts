// Node identity on disk: the Ed25519 keypair (<data_dir>/keypair) and the admin token (<data_dir>/admin.token).
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { didKey, publicKeyOf, randomSecret } from "./ed25519.ts";
import { hex, unhex } from "./hex.ts";

/** File names inside the data directory. */
export const KEYPAIR_FILE = "keypair";
export const ADMIN_TOKEN_FILE = "admin.token";

/** The node's Ed25519 identity. */
export interface Identity {
  /** Node id: lowercase hex of the public key. */
  readonly nodeId: string;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
  readonly didKey: string;
}

/** An identity file that exists but cannot be used. */
export class IdentityError extends Error {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options);
    this.name = "IdentityError";
    this.path = path;
  }
}

/** Builds an Identity from a 32-byte secret seed. */
export function identityFromSecret(secretKey: Uint8Array): Identity {
  const publicKey = publicKeyOf(secretKey);
  return { nodeId: hex(publicKey), publicKey, secretKey, didKey: didKey(publicKey) };
}

/** Serialises a keypair file: JSON with the algorithm, the secret seed and the public key (for a consistency check). */
export function encodeKeypair(id: Identity): string {
  return `${JSON.stringify({ type: "ed25519", secret: hex(id.secretKey), public: id.nodeId })}\n`;
}

/** Parses and checks a keypair file's contents. */
export function decodeKeypair(text: string, path = KEYPAIR_FILE): Identity {
  let doc: { type?: unknown; secret?: unknown; public?: unknown };
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new IdentityError(path, "not a keypair file (invalid JSON)", { cause: err });
  }
  if (doc?.type !== "ed25519" || typeof doc.secret !== "string" || typeof doc.public !== "string") {
    throw new IdentityError(path, 'not a keypair file (expected {"type":"ed25519","secret":HEX,"public":HEX})');
  }
  let id: Identity;
  try {
    id = identityFromSecret(unhex(doc.secret, 32));
  } catch (err) {
    throw new IdentityError(path, "secret is not 32 bytes of hex", { cause: err });
  }
  if (id.nodeId !== doc.public) throw new IdentityError(path, "public key does not match the secret key");
  return id;
}

/** Writes a file atomically with mode 0600 (temp file, fsync, rename). */
export function writeSecretFile(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    try {
      fsyncSync(fd);
    } catch (err) {
      // Node 26's permission model (the appliance build) refuses fsync outright, whatever the path; the rename below
      // then relies on the file system writing data before the rename (ext4's default data=ordered, the image's).
      if ((err as NodeJS.ErrnoException).code !== "ERR_ACCESS_DENIED") throw err;
    }
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Makes the data directory (0700) if missing. */
export function ensureDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Loads `<dataDir>/keypair`, creating a new one on first start. Refuses group/world-readable key files. */
export function loadOrCreateIdentity(dataDir: string): { identity: Identity; created: boolean } {
  ensureDataDir(dataDir);
  const path = join(dataDir, KEYPAIR_FILE);
  const text = readIfExists(path);
  if (text !== undefined) {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) throw new IdentityError(path, `mode is ${mode.toString(8)}; it must not be readable by group or others (chmod 600)`);
    return { identity: decodeKeypair(text, path), created: false };
  }
  const identity = identityFromSecret(randomSecret());
  writeSecretFile(path, encodeKeypair(identity));
  return { identity, created: true };
}

/** Reads an existing identity without creating one. */
export function readIdentity(dataDir: string): Identity {
  const path = join(dataDir, KEYPAIR_FILE);
  const text = readIfExists(path);
  if (text === undefined) throw new IdentityError(path, "no keypair (start the node once, or run 'slowdrip keygen')");
  return decodeKeypair(text, path);
}

/** Loads `<dataDir>/admin.token`, creating a random 32-byte hex token on first start. */
export function loadOrCreateAdminToken(dataDir: string): string {
  ensureDataDir(dataDir);
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  const text = readIfExists(path);
  if (text !== undefined) {
    const token = text.trim();
    if (!/^[0-9a-f]{64}$/.test(token)) throw new IdentityError(path, "admin token must be 64 lowercase hex characters");
    return token;
  }
  const token = randomBytes(32).toString("hex");
  writeSecretFile(path, `${token}\n`);
  return token;
}
