// Build: WebAssembly modules from wasm/ (when present), the browser bundles, then one ESM bundle of the CLI in dist/.
import { build } from "esbuild";
import { existsSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { buildWeb } from "./build-web.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

if (existsSync(join(root, "wasm/build.mjs"))) {
  const r = spawnSync(process.execPath, [join(root, "wasm/build.mjs")], { stdio: "inherit", cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// The browser bundles (src/web/) are embedded in the node bundle through src/web/gen/assets.ts.
await buildWeb(root);

const pkg = JSON.parse(await import("node:fs/promises").then((fs) => fs.readFile(join(root, "package.json"), "utf8")));

await build({
  entryPoints: [join(root, "src/main.ts")],
  outfile: join(root, "dist/slowdrip-app.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  sourcemap: "linked",
  // Native addons stay outside the bundle and load from node_modules.
  external: ["lmdb", "msgpackr-extract"],
  define: { __SLOWDRIP_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    js: [
      "#!/usr/bin/env node",
      'import { createRequire as __slowdripCreateRequire } from "node:module";',
      "const require = __slowdripCreateRequire(import.meta.url);",
    ].join("\n"),
  },
  logLevel: "warning",
});

// dist/slowdrip.mjs, the command: turns on Node's on-disk compile cache (module.enableCompileCache: the bundle is
// parsed and compiled once per build, not on every start; without a writable cache dir it simply runs uncached),
// then runs the bundle beside it.
writeFileSync(
  join(root, "dist/slowdrip.mjs"),
  [
    "#!/usr/bin/env node",
    "// slowdrip: runs the bundle beside this file with Node's compile cache on (faster start-up).",
    'import module from "node:module";',
    "try {",
    "  module.enableCompileCache?.();",
    "} catch {}",
    'await import("./slowdrip-app.mjs");',
    "",
  ].join("\n"),
  { mode: 0o755 },
);
