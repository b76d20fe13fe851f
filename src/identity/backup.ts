// Backup archives: a gzipped tar of the identity files (and the wallet) with a checksummed manifest, optionally sealed.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as tar from "tar";
import { ADMIN_TOKEN_FILE, KEYPAIR_FILE, decodeKeypair, ensureDataDir, readIdentity, writeSecretFile } from "./identity.ts";
import { SealError, isSealed, seal, unseal } from "./seal.ts";

const MANIFEST = "backup.json";
/** The wallet snapshot inside an archive (made and read by the pay layer; opaque here). */
export const WALLET_ENTRY = "wallet.json";
/**
 * Identity files kept when they exist in the data dir, besides the keypair and admin token (for example the Nostr key
 * another part of the node creates). Restored the same way: atomically, mode 0600.
 */
export const OPTIONAL_IDENTITY_FILES: readonly string[] = ["nostr.key"];
const IDENTITY_FILES = [KEYPAIR_FILE, ADMIN_TOKEN_FILE, ...OPTIONAL_IDENTITY_FILES];
/** Largest entry of each kind accepted from an archive. */
const MAX_ENTRY = 64 * 1024;
const MAX_WALLET = 64 * 1024 * 1024;
/** Largest archive read into memory (a sealed one is decrypted whole). */
const MAX_ARCHIVE = 80 * 1024 * 1024;
const ALLOWED = new Set([MANIFEST, WALLET_ENTRY, ...IDENTITY_FILES]);
const FORMATS = new Set(["slowdrip-backup-v1", "slowdrip-backup-v2"]);

/** A backup archive that cannot be made or restored; nothing was changed. */
export class BackupError extends Error {
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = "BackupError";
    this.file = file;
  }
}

interface Manifest {
  format: "slowdrip-backup-v1" | "slowdrip-backup-v2";
  node_id: string;
  created: string;
  files: Record<string, string>;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** "20261121T110533Z" for a date. */
export function backupTimestamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}

/** Options of {@link createBackup}. */
export interface CreateBackupOptions {
  /** A directory (the archive's name is generated inside it) or a file path; default: the current directory. */
  output?: string;
  /** The wallet snapshot (`wallet.json`), when the data dir holds a wallet. */
  wallet?: Uint8Array;
  /** Seal the archive with this passphrase (scrypt + XChaCha20-Poly1305). */
  passphrase?: string;
  now?: Date;
}

/**
 * Writes `slowdrip-backup-<UTC timestamp>.tar.gz` (`.tar.gz.enc` when sealed) with the identity files of dataDir and
 * the wallet snapshot, checksummed in a manifest. The archive is written atomically with mode 0600.
 */
export async function createBackup(dataDir: string, opts: CreateBackupOptions = {}): Promise<{ path: string; nodeId: string; files: string[]; sealed: boolean }> {
  const id = readIdentity(dataDir);
  const now = opts.now ?? new Date();
  const name = `slowdrip-backup-${backupTimestamp(now)}.tar.gz${opts.passphrase !== undefined ? ".enc" : ""}`;
  let path = resolve(opts.output ?? name);
  if (opts.output !== undefined && existsSync(path) && statSync(path).isDirectory()) path = join(path, name);
  if (opts.wallet && opts.wallet.length > MAX_WALLET) throw new BackupError(path, `the wallet snapshot is larger than ${MAX_WALLET} bytes`);
  const staging = mkdtempSync(join(tmpdir(), "slowdrip-backup-"));
  try {
    const files: Record<string, string> = {};
    const put = (f: string, data: Uint8Array) => {
      writeFileSync(join(staging, f), data, { mode: 0o600 });
      files[f] = sha256(data);
    };
    for (const f of IDENTITY_FILES) {
      const src = join(dataDir, f);
      if (existsSync(src) && lstatSync(src).isFile()) put(f, readFileSync(src));
    }
    if (opts.wallet) put(WALLET_ENTRY, opts.wallet);
    const manifest: Manifest = { format: "slowdrip-backup-v2", node_id: id.nodeId, created: now.toISOString(), files };
    writeFileSync(join(staging, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    const tarball = join(staging, "archive.tar.gz");
    await tar.c({ gzip: true, file: tarball, cwd: staging, portable: true, mode: 0o600 } as tar.TarOptionsWithAliasesAsyncFile, [MANIFEST, ...Object.keys(files)]);
    let bytes: Uint8Array = readFileSync(tarball);
    if (opts.passphrase !== undefined) bytes = await seal(bytes, opts.passphrase);
    writeSecretFile(path, bytes);
    return { path, nodeId: id.nodeId, files: Object.keys(files), sealed: opts.passphrase !== undefined };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** The checked contents of a backup archive. */
export interface CheckedBackup {
  nodeId: string;
  created: string;
  /** Identity files to write into the data dir. */
  files: Map<string, Uint8Array>;
  /** The wallet snapshot, when the archive has one. */
  wallet?: Uint8Array;
  sealed: boolean;
}

/** True when `file` is a sealed (encrypted) archive. */
export function isSealedArchive(file: string): boolean {
  try {
    return isSealed(readFileSync(file).subarray(0, 8));
  } catch {
    return false;
  }
}

/**
 * Reads and fully verifies an archive (decryption, gzip/tar integrity, manifest, checksums, keypair) without touching
 * any data dir. A sealed archive needs `passphrase`.
 */
export async function readBackup(file: string, opts: { passphrase?: string } = {}): Promise<CheckedBackup> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new BackupError(file, "no such file");
  if (statSync(file).size > MAX_ARCHIVE) throw new BackupError(file, `larger than ${MAX_ARCHIVE} bytes: not a slowdrip backup`);
  const tmp = mkdtempSync(join(tmpdir(), "slowdrip-restore-"));
  try {
    let tarball = file;
    const raw = readFileSync(file);
    const sealed = isSealed(raw);
    if (sealed) {
      if (opts.passphrase === undefined) throw new BackupError(file, "the archive is encrypted: give its passphrase with --passphrase-file");
      let plain: Uint8Array;
      try {
        plain = await unseal(raw, opts.passphrase);
      } catch (err) {
        if (err instanceof SealError) throw new BackupError(file, err.message, { cause: err });
        throw err;
      }
      tarball = join(tmp, ".archive.tar.gz");
      writeFileSync(tarball, plain, { mode: 0o600 });
    }
    const out = join(tmp, "x");
    mkdirSync(out, { mode: 0o700 });
    const rejected: string[] = [];
    try {
      await tar.x({
        file: tarball,
        cwd: out,
        strict: true,
        preserveOwner: false,
        filter: (p: string, entry: unknown) => {
          const e = entry as { type?: string; size?: number };
          const max = p === WALLET_ENTRY ? MAX_WALLET : MAX_ENTRY;
          const ok = ALLOWED.has(p) && e.type === "File" && (e.size ?? 0) <= max;
          if (!ok) rejected.push(p);
          return ok;
        },
      } as tar.TarOptionsWithAliasesAsyncFile);
    } catch (err) {
      throw new BackupError(file, `damaged archive (${(err as Error).message})`, { cause: err });
    }
    if (rejected.length > 0) throw new BackupError(file, `unexpected entries in archive: ${rejected.slice(0, 5).join(", ")}`);
    const present = readdirSync(out);
    if (!present.includes(MANIFEST)) throw new BackupError(file, "damaged archive (no backup.json manifest)");
    let manifest: Manifest;
    try {
      manifest = JSON.parse(readFileSync(join(out, MANIFEST), "utf8"));
    } catch (err) {
      throw new BackupError(file, "damaged archive (backup.json is not JSON)", { cause: err });
    }
    if (!FORMATS.has(manifest?.format) || typeof manifest.files !== "object" || manifest.files === null) {
      throw new BackupError(file, "not a slowdrip backup (unknown format)");
    }
    const files = new Map<string, Uint8Array>();
    let wallet: Uint8Array | undefined;
    for (const [name, sum] of Object.entries(manifest.files)) {
      const p = join(out, name);
      if (!ALLOWED.has(name) || name === MANIFEST || !existsSync(p) || !lstatSync(p).isFile()) throw new BackupError(file, `damaged archive (missing ${name})`);
      const data = readFileSync(p);
      if (sha256(data) !== sum) throw new BackupError(file, `damaged archive (checksum mismatch for ${name})`);
      if (name === WALLET_ENTRY) wallet = data;
      else files.set(name, data);
    }
    const kp = files.get(KEYPAIR_FILE);
    if (!kp) throw new BackupError(file, "damaged archive (no keypair)");
    const id = decodeKeypair(Buffer.from(kp).toString("utf8"), `${file}:${KEYPAIR_FILE}`);
    if (id.nodeId !== manifest.node_id) throw new BackupError(file, "damaged archive (keypair does not match the manifest's node id)");
    return { nodeId: id.nodeId, created: String(manifest.created), files, ...(wallet ? { wallet } : {}), sealed };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Writes a checked backup's identity files into dataDir, each atomically with mode 0600. */
export function applyBackup(backup: CheckedBackup, dataDir: string): void {
  ensureDataDir(dataDir);
  for (const [name, data] of backup.files) writeSecretFile(join(dataDir, name), data);
}
