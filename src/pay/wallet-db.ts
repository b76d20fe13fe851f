// The wallet's LMDB environment holds bearer money: <data_dir>/db is kept 0700 and its files 0600, whoever made them.
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import { openLmdb } from "../store/lmdb-native.ts";

/** Mode of `<data_dir>/db`: nobody but the node's user may enter it (MediaMTX shares the node's group). */
export const DB_DIR_MODE = 0o700;
/** Mode of the files in it. */
export const DB_FILE_MODE = 0o600;

/** `<data_dir>/db`. */
export function dbPath(dataDir: string): string {
  return join(dataDir, "db");
}

/**
 * Makes `dir` (creating it if needed) mode 0700 and every regular file directly in it 0600, whatever the umask or an
 * older version left behind. Symbolic links and other entries are left alone.
 */
export function makePrivateDir(dir: string): void {
  if (typeof dir !== "string" || dir === "") throw new TypeError("dir must be a non-empty path");
  mkdirSync(dir, { recursive: true, mode: DB_DIR_MODE });
  if (!lstatSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
  chmodSync(dir, DB_DIR_MODE);
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isFile() && (st.mode & 0o777) !== DB_FILE_MODE) chmodSync(p, DB_FILE_MODE);
  }
}

/**
 * Opens (creating if needed) the node's LMDB environment in `<data_dir>/db` privately: the directory 0700, LMDB's
 * files created 0600 and tightened to 0600 if they were not. The blob store shares this environment.
 */
export async function openWalletDb(dataDir: string): Promise<RootDatabase> {
  const dir = dbPath(dataDir);
  makePrivateDir(dir);
  const root = await openLmdb(lmdbOptions(dir, false));
  makePrivateDir(dir);
  return root;
}

/**
 * Opens `<data_dir>/db` read-only (a running node may have it open: LMDB readers do not block it), or returns
 * undefined when there is none. Changes nothing on disk.
 */
export async function openWalletDbReadOnly(dataDir: string): Promise<RootDatabase | undefined> {
  const dir = dbPath(dataDir);
  if (!existsSync(join(dir, "data.mdb"))) return undefined;
  return openLmdb(lmdbOptions(dir, true));
}

function lmdbOptions(dir: string, readOnly: boolean): Parameters<typeof openLmdb>[0] {
  // permissionsMode is lmdb's file mode for mdb_env_open (missing from its type declarations).
  const options = { path: dir, compression: false, permissionsMode: DB_FILE_MODE, ...(readOnly ? { readOnly: true } : {}) };
  return options as Parameters<typeof openLmdb>[0];
}
