// README stands alone: it points at nothing outside the repository, every repository path it names exists, the design
// notes it sends maintainers to are in docs/, and features that are not built yet say so.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers/node.ts";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const TOP = ["docs", "src", "test", "scripts", "configs", "systemd", "proto", "bench", "wasm", "image", ".ci", "dist"];

describe("README stands alone", () => {
  it("points at nothing outside the repository", () => {
    expect(readme.match(/[^\s`(]*\.\.\/[^\s`)]*/g) ?? []).toEqual([]);
    expect(readme).not.toMatch(/shared\/|ARCHITECTURE\.md/);
  });

  it("names only repository paths that exist (besides what the build and the benches write)", () => {
    const named = [...readme.matchAll(/`((?:[\w.-]+\/)+[\w.-]*)`/g)].map((m) => m[1]!).filter((p) => TOP.includes(p.split("/")[0]!));
    expect(named.length).toBeGreaterThan(5);
    // dist/ and bench/results/ are written by the build and the benches; placeholders (NAME, FILE...) stand for such files.
    const missing = named.filter((p) => !/^(dist|bench\/results)\//.test(p) && !/[A-Z]{2,}/.test(p) && !existsSync(join(ROOT, p)));
    expect(missing).toEqual([]);
  });

  it("sends maintainers to design notes in docs/", () => {
    expect(readme).toContain("`docs/design.md`");
    const design = readFileSync(join(ROOT, "docs/design.md"), "utf8");
    for (const section of ["## Source layout", "## The data directory", "## Formats"]) expect(design).toContain(section);
  });

  it.each([
    ["tuning.pull_concurrency", /does not pull from peers yet/],
    ["pay.pricing.relay_bandwidth", /relays nothing yet/],
  ])("says that %s belongs to a feature that is not built yet", (key, note) => {
    const row = readme.split("\n").find((l) => l.startsWith(`| \`${key}\``));
    expect(row).toMatch(note);
  });

  it("lists Go and root among the prerequisites of the tests", () => {
    expect(readme).toMatch(/Go 1\.26 or newer/);
    expect(readme).toMatch(/as root/);
  });
});
