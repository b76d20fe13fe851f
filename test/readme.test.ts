// README tells the truth: it names every config key, every command and every npm script the project has.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configKeys } from "../src/config/schema.ts";
import { commands } from "../src/cli/commands.ts";
import { ROOT } from "./helpers/node.ts";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const scripts = Object.keys(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts as Record<string, string>);

describe("README", () => {
  it("starts with the two set-up commands", () => {
    expect(readme).toMatch(/npm ci && npm start/);
    expect(readme).toMatch(/npm ci && npm test/);
  });
  it.each(configKeys)("documents config key %s in the table", (key) => {
    // A row starts with the key; two related keys may share a row as `a.b` / `a.c`.
    expect(readme.includes(`| \`${key}\``) || readme.includes(`\` / \`${key}\``)).toBe(true);
  });
  it.each(commands.map((c) => c.name))("documents command %s", (name) => {
    expect(readme).toMatch(new RegExp(`\`slowdrip ${name}\\b`));
  });
  it.each(scripts)("documents npm script %s", (name) => {
    expect(readme).toMatch(new RegExp(`npm (run )?${name.replace(":", "\\:")}\\b`));
  });
});
