// `slowdrip vrf prove|verify` through the built CLI: the RFC 9381 vectors by secret and by keypair file, and every
// refusal exiting 1 with the failed check named.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, tempDir } from "../helpers/node.ts";

const { examples } = JSON.parse(readFileSync(join(import.meta.dirname, "../vectors/vrf/rfc9381-edwards25519-sha512-tai.json"), "utf8")) as {
  examples: { example: number; SK: string; PK: string; alpha: string; pi: string; beta: string }[];
};

describe("slowdrip vrf", () => {
  it.each(examples)("prove and verify reproduce example $example", async (v) => {
    const p = await runCli(["vrf", "prove", "--secret", v.SK, "--message", v.alpha]);
    expect(p.stderr).toBe("");
    expect(p.stdout).toBe(`pi=${v.pi} beta=${v.beta}\n`);
    const r = await runCli(["vrf", "verify", "--public", v.PK, "--proof", v.pi, "--message", v.alpha]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`beta=${v.beta}\n`);
  });
  it("prove --key reads a keypair file made by keygen", async () => {
    const d = tempDir();
    const id = (await runCli(["keygen", "--output", d])).stdout.trim();
    const p = await runCli(["vrf", "prove", "--key", join(d, "keypair"), "--message", "0102"]);
    expect(p.code).toBe(0);
    const m = /^pi=([0-9a-f]{160}) beta=([0-9a-f]{128})\n$/.exec(p.stdout)!;
    expect(m).not.toBeNull();
    const r = await runCli(["vrf", "verify", "--public", id, "--proof", m[1]!, "--message", "0102"]);
    expect(r.stdout).toBe(`beta=${m[2]}\n`);
  });
  it("verify exits 1 naming the failure", async () => {
    const v = examples[0]!;
    const flipped = v.pi.slice(0, 70) + (v.pi[70] === "0" ? "1" : "0") + v.pi.slice(71);
    const cases: [string[], RegExp][] = [
      [["--public", v.PK, "--proof", flipped, "--message", v.alpha], /challenge-mismatch/],
      [["--public", v.PK, "--proof", v.pi, "--message", "00"], /challenge-mismatch/],
      [["--public", examples[1]!.PK, "--proof", v.pi, "--message", v.alpha], /challenge-mismatch/],
      [["--public", v.PK, "--proof", v.pi.slice(0, 158), "--message", v.alpha], /bad-proof-length/],
      [["--public", "01".padEnd(64, "0"), "--proof", v.pi, "--message", v.alpha], /small-order-key/],
      [["--public", v.PK, "--proof", `${v.pi.slice(0, 96)}${"ff".repeat(32)}`, "--message", v.alpha], /s-out-of-range/],
    ];
    for (const [args, want] of cases) {
      const r = await runCli(["vrf", "verify", ...args]);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(want);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
  it("usage errors exit 2", async () => {
    expect((await runCli(["vrf", "prove", "--message", "00"])).code).toBe(2);
    expect((await runCli(["vrf", "prove", "--secret", "zz", "--message", "00"])).code).toBe(2);
    expect((await runCli(["vrf", "verify", "--public", "00", "--proof", "00", "--message", "00"])).code).toBe(2);
    expect((await runCli(["vrf", "frob"])).code).toBe(2);
  });
});
