// Identity backup and restore: a gzipped tar of the keypair and admin token with a checksummed manifest.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, lstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as tar from "tar";
import { ADMIN_TOKEN_FILE, KEYPAIR_FILE, decodeKeypair, ensureDataDir, readIdentity, writeSecretFile } from "./identity.ts";

const MANIFEST = "backup.json";
const MAX_ENTRY = 64 * 1024;
const ALLOWED = new Set([MANIFEST, KEYPAIR_FILE, ADMIN_TOKEN_FILE]);

/** A backup archive that cannot be restored; nothing was changed. */
export class BackupError extends Error {
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = "BackupError";
    this.file = file;
  }
}

interface Manifest {
  format: "slowdrip-backup-v1";
  node_id: string;
  created: string;
  files: Record<string, string>;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** "20261121T110533Z" for a date. */
export function backupTimestamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}

/**
 * Writes `slowdrip-backup-<UTC timestamp>.tar.gz` with the identity files of dataDir.
 * `output` may be a directory (the name is generated inside it) or a file path. Returns the archive path.
 */
export async function createBackup(dataDir: string, output?: string, now = new Date()): Promise<{ path: string; nodeId: string }> {
  const id = readIdentity(dataDir);
  const name = `slowdrip-backup-${backupTimestamp(now)}.tar.gz`;
  let path = resolve(output ?? name);
  if (output && existsSync(path) && statSync(path).isDirectory()) path = join(path, name);
  const staging = mkdtempSync(join(tmpdir(), "slowdrip-backup-"));
  try {
    const files: Record<string, string> = {};
    for (const f of [KEYPAIR_FILE, ADMIN_TOKEN_FILE]) {
      const src = join(dataDir, f);
      if (!existsSync(src)) continue;
      const data = readFileSync(src);
      writeFileSync(join(staging, f), data, { mode: 0o600 });
      files[f] = sha256(data);
    }
    const manifest: Manifest = { format: "slowdrip-backup-v1", node_id: id.nodeId, created: now.toISOString(), files };
    writeFileSync(join(staging, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    await tar.c({ gzip: true, file: path, cwd: staging, portable: true, mode: 0o600 } as tar.TarOptionsWithAliasesAsyncFile, [MANIFEST, ...Object.keys(files)]);
    return { path, nodeId: id.nodeId };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** The checked contents of a backup archive. */
export interface CheckedBackup {
  nodeId: string;
  created: string;
  files: Map<string, Uint8Array>;
}

/** Reads and fully verifies an archive (gzip/tar integrity, manifest, checksums, keypair) without touching any data dir. */
export async function readBackup(file: string): Promise<CheckedBackup> {
  if (!existsSync(file)) throw new BackupError(file, "no such file");
  const tmp = mkdtempSync(join(tmpdir(), "slowdrip-restore-"));
  try {
    const rejected: string[] = [];
    try {
      await tar.x({
        file,
        cwd: tmp,
        strict: true,
        preserveOwner: false,
        filter: (p: string, entry: unknown) => {
          const e = entry as { type?: string; size?: number };
          const ok = ALLOWED.has(p) && e.type === "File" && (e.size ?? 0) <= MAX_ENTRY;
          if (!ok) rejected.push(p);
          return ok;
        },
      } as tar.TarOptionsWithAliasesAsyncFile);
    } catch (err) {
      throw new BackupError(file, `damaged archive (${(err as Error).message})`, { cause: err });
    }
    if (rejected.length > 0) throw new BackupError(file, `unexpected entries in archive: ${rejected.slice(0, 5).join(", ")}`);
    const present = readdirSync(tmp);
    if (!present.includes(MANIFEST)) throw new BackupError(file, "damaged archive (no backup.json manifest)");
    let manifest: Manifest;
    try {
      manifest = JSON.parse(readFileSync(join(tmp, MANIFEST), "utf8"));
    } catch (err) {
      throw new BackupError(file, "damaged archive (backup.json is not JSON)", { cause: err });
    }
    if (manifest.format !== "slowdrip-backup-v1" || typeof manifest.files !== "object" || manifest.files === null) {
      throw new BackupError(file, "not a slowdrip backup (unknown format)");
    }
    const files = new Map<string, Uint8Array>();
    for (const [name, sum] of Object.entries(manifest.files)) {
      const p = join(tmp, name);
      if (!ALLOWED.has(name) || !existsSync(p) || !lstatSync(p).isFile()) throw new BackupError(file, `damaged archive (missing ${name})`);
      const data = readFileSync(p);
      if (sha256(data) !== sum) throw new BackupError(file, `damaged archive (checksum mismatch for ${name})`);
      files.set(name, data);
    }
    const kp = files.get(KEYPAIR_FILE);
    if (!kp) throw new BackupError(file, "damaged archive (no keypair)");
    const id = decodeKeypair(Buffer.from(kp).toString("utf8"), `${file}:${KEYPAIR_FILE}`);
    if (id.nodeId !== manifest.node_id) throw new BackupError(file, "damaged archive (keypair does not match the manifest's node id)");
    return { nodeId: id.nodeId, created: String(manifest.created), files };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Writes a checked backup's files into dataDir, each atomically with mode 0600. */
export function applyBackup(backup: CheckedBackup, dataDir: string): void {
  ensureDataDir(dataDir);
  for (const [name, data] of backup.files) writeSecretFile(join(dataDir, name), data);
}
