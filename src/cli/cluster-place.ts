// `slowdrip cluster place`: diagnostic print of straw2 placements for a member list (compare validators, miners and
// architectures); cli/cluster.ts dispatches it.
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { CliError, type CliIO } from "./command.ts";
import { MAX_PG_COUNT, MAX_POSITIONS, PlacementError, pgOf, placePg, type PlacementMember } from "../cluster/placement.ts";

/** Largest members file read. */
const MAX_MEMBERS_FILE = 16 * 1024 * 1024;
/** Most stripes `--file` prints. */
const MAX_STRIPES = 1 << 20;

export const clusterPlaceUsage = [
  "usage: slowdrip cluster place --members FILE --pg-count N [--count C] [--allow-family-reuse] [--pg P]... [--json]",
  "       slowdrip cluster place --members FILE --pg-count N --file HASH --stripes S [--count C] [--json]",
  "",
  "Prints the member of each shard position of every placement group, one line '<pg>\\t<id> <id> ...' per PG,",
  "exactly as validator and miners compute it (straw2, one family per position).",
  "  --members FILE        JSON array of {\"id\", \"family\", \"weight\"}",
  "  --pg-count N          placement groups in the map (cluster.pg_count)",
  `  --count C             shard positions per placement group (data + parity shards; default 6, at most ${MAX_POSITIONS})`,
  "  --allow-family-reuse  let a family hold several positions when there are fewer families than positions",
  "  --pg P                only placement group P (repeatable)",
  "  --file HASH           the stripes of file HASH instead: '<stripe>\\t<pg>\\t<id> <id> ...' for stripes 0..S-1",
  "  --json                one JSON object per line instead",
].join("\n");

/** Runs `cluster place` with its own arguments. */
export async function clusterPlace(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      members: { type: "string" },
      "pg-count": { type: "string" },
      count: { type: "string" },
      "allow-family-reuse": { type: "boolean" },
      pg: { type: "string", multiple: true },
      file: { type: "string" },
      stripes: { type: "string" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`, 2);
  if (!values.members) throw new CliError("--members FILE is required", 2);
  if (!values["pg-count"]) throw new CliError("--pg-count N is required", 2);
  const pgCount = intFlag(values["pg-count"], "--pg-count", 1, MAX_PG_COUNT);
  const count = values.count === undefined ? 6 : intFlag(values.count, "--count", 1, MAX_POSITIONS);
  const members = await readMembers(resolve(io.cwd, values.members));
  const opts = { allowFamilyReuse: values["allow-family-reuse"] === true };
  const place = (pg: number) => {
    try {
      return placePg(pg, members, count, opts);
    } catch (err) {
      if (err instanceof PlacementError || err instanceof RangeError || err instanceof TypeError) throw new CliError(err.message, 1, { cause: err });
      throw err;
    }
  };
  const write = (line: string) => io.stdout.write(`${line}\n`);
  if (values.file !== undefined) {
    if (values.pg) throw new CliError("--pg and --file exclude each other", 2);
    if (!values.stripes) throw new CliError("--file needs --stripes S", 2);
    const stripes = intFlag(values.stripes, "--stripes", 1, MAX_STRIPES);
    let hash: string;
    try {
      pgOf(values.file, 0, 1);
      hash = values.file;
    } catch {
      throw new CliError("--file must be a BLAKE3 hash (64 lowercase hex characters)", 2);
    }
    for (let s = 0; s < stripes; s++) {
      const pg = pgOf(hash, s, pgCount);
      const ids = place(pg);
      write(values.json ? JSON.stringify({ stripe: s, pg, members: ids }) : `${s}\t${pg}\t${ids.join(" ")}`);
    }
    return 0;
  }
  const pgs = values.pg ? values.pg.map((p) => intFlag(p, "--pg", 0, pgCount - 1)) : null;
  const total = pgs ? pgs.length : pgCount;
  for (let i = 0; i < total; i++) {
    const pg = pgs ? pgs[i]! : i;
    const ids = place(pg);
    write(values.json ? JSON.stringify({ pg, members: ids }) : `${pg}\t${ids.join(" ")}`);
  }
  return 0;
}

function intFlag(v: string, name: string, lo: number, hi: number): number {
  if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) throw new CliError(`${name} must be an integer in ${lo}..${hi}, got "${v}"`, 2);
  return Number(v);
}

async function readMembers(path: string): Promise<PlacementMember[]> {
  let text: string;
  try {
    const st = await stat(path);
    if (st.size > MAX_MEMBERS_FILE) throw new CliError(`${path}: ${st.size} bytes is more than a members file may have (${MAX_MEMBERS_FILE})`);
    text = await readFile(path, "utf8");
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${path}: ${(err as { code?: string }).code === "ENOENT" ? "no such file" : (err as Error).message}`, 1, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${path}: not JSON (${(err as Error).message})`, 1, { cause: err });
  }
  if (!Array.isArray(parsed)) throw new CliError(`${path}: expected a JSON array of {"id", "family", "weight"}`);
  return parsed as PlacementMember[];
}
