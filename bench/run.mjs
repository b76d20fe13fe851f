// npm run bench [-- NAME...]: bundles bench/<NAME>.ts with esbuild and runs each on the pinned Node; no name runs them all.
import { build } from "esbuild";
import { readdirSync, mkdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const available = readdirSync(join(root, "bench"))
  .filter((f) => f.endsWith(".ts") && !f.startsWith("_"))
  .map((f) => f.slice(0, -3))
  .sort();
const names = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith("-"));
for (const n of names) {
  if (!available.includes(n)) {
    console.error(`unknown bench "${n}"; available: ${available.join(", ")}`);
    process.exit(2);
  }
}
mkdirSync(join(root, "bench/results"), { recursive: true });
let failed = 0;
// Benches that take many minutes and a VM run only when named.
const namedOnly = ["image"];
if (!names.length) console.log(`(not run without being named: ${namedOnly.map((n) => `npm run bench -- ${n}`).join(", ")})`);
for (const name of names.length ? names : available.filter((n) => !namedOnly.includes(n))) {
  const outfile = join(root, "build/bench", `${name}.mjs`);
  await build({
    entryPoints: [join(root, "bench", `${name}.ts`)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    external: ["lmdb", "msgpackr-extract", "blake3-wasm", "hash-wasm", "playwright-core", "esbuild"],
    banner: { js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' },
    logLevel: "warning",
  });
  console.log(`\n## bench ${name}\n`);
  const r = spawnSync(process.execPath, ["--expose-gc", outfile, ...passThrough], { stdio: "inherit", cwd: root });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
