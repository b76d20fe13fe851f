// package.json names only dependencies the program uses: each runtime dependency is imported somewhere under src/.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "./helpers/node.ts";

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.(ts|tsx|mjs|js)$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) ? [p] : [];
  });
}

it("every runtime dependency is imported by the program (unused ones are dropped)", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const text = sources(join(ROOT, "src")).map((f) => readFileSync(f, "utf8")).join("\n");
  const unused = Object.keys(pkg.dependencies).filter((d) => {
    const q = d.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    return !new RegExp(`(from\\s+|import\\(\\s*|require\\(\\s*)["']${q}(/[^"']*)?["']`).test(text);
  });
  expect(unused).toEqual([]);
});
