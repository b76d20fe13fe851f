// npm run fuzz: seeded fuzzing of a real node's public listener (test/fuzz/), 100,000 cases unless told otherwise.
//
// Usage: npm run fuzz -- [--seed N] [--cases N] [--first N] [--case N]
//   --seed   32-bit seed (default: a fresh one, printed first); the same seed replays the same cases
//   --cases  how many cases (default 100000); --first the index of the first (default 0); --case N runs case N alone
// Builds first, then runs test/fuzz/fuzz.test.ts under vitest with the chosen numbers, and ends with
// "fuzz: N cases, seed S, R cases/s, F findings". Exit 0 only when there are no findings.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({ options: { seed: { type: "string" }, cases: { type: "string" }, first: { type: "string" }, case: { type: "string" } } });
const int = (name, v, min, max) => {
  const n = Number(v);
  if (!/^\d+$/.test(String(v)) || !Number.isSafeInteger(n) || n < min || n > max) {
    console.error(`fuzz: --${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};
const seed = values.seed !== undefined ? int("seed", values.seed, 0, 0xffffffff) : Math.floor(Math.random() * 0x1_0000_0000);
let first = values.first !== undefined ? int("first", values.first, 0, 2 ** 40) : 0;
let cases = values.cases !== undefined ? int("cases", values.cases, 1, 100_000_000) : 100_000;
if (values.case !== undefined) {
  first = int("case", values.case, 0, 2 ** 40);
  cases = 1;
}
console.log(`fuzz: seed ${seed}, cases ${first}..${first + cases - 1} (replay: npm run fuzz -- --seed ${seed} --first ${first} --cases ${cases})`);

const build = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { stdio: "inherit", cwd: root });
if (build.status !== 0) process.exit(1);

const dir = mkdtempSync(join(tmpdir(), "slowdrip-fuzz-report-"));
const reportFile = join(dir, "report.json");
const env = { ...process.env, SLOWDRIP_FUZZ_SEED: String(seed), SLOWDRIP_FUZZ_CASES: String(cases), SLOWDRIP_FUZZ_FIRST: String(first), SLOWDRIP_FUZZ_REPORT: reportFile };
const r = spawnSync(process.execPath, [join(root, "node_modules/vitest/vitest.mjs"), "run", "test/fuzz/fuzz.test.ts"], { stdio: "inherit", cwd: root, env });
let line = `fuzz: ${cases} cases, seed ${seed}: no report (the run did not get to the end)`;
try {
  const rep = JSON.parse(readFileSync(reportFile, "utf8"));
  line = `fuzz: ${rep.cases} cases, seed ${seed}, ${rep.rate} cases/s, ${rep.findings.length} findings`;
} catch {
  /* keep the default line */
}
rmSync(dir, { recursive: true, force: true });
console.log(line);
process.exit(r.status === 0 ? 0 : 1);
