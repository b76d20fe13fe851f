// Placement: the fixed-point log, PG hashing, straw2 properties (families, weights, movement on join and leave),
// independence from member order, determinism across processes (the CLI in child processes), argument checks.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { log2Fixed, MAX_PG_COUNT, PlacementError, pgOf, placeAll, placePg, type PlacementMember } from "./placement.ts";
import { placementLnSource } from "../../scripts/gen-placement-ln.ts";
import { blake3Hex } from "../wasm/index.ts";
import { rng } from "../../test/helpers/rng.ts";

const ROOT = join(import.meta.dirname, "../..");
const tmp = mkdtempSync(join(tmpdir(), "slowdrip-placement-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** n members in `families` families (member i in family i % families), weight w(i). */
function members(n: number, families: number, w: (i: number) => number = () => 1): PlacementMember[] {
  return Array.from({ length: n }, (_, i) => ({ id: `node-${String(i).padStart(3, "0")}`, family: `fam-${i % families}`, weight: w(i) }));
}

const familyOf = (ms: readonly PlacementMember[]) => new Map(ms.map((m) => [m.id, m.family]));

describe("log2Fixed", () => {
  it("the committed tables are what scripts/gen-placement-ln.ts computes", () => {
    expect(readFileSync(join(ROOT, "src/cluster/placement-ln.ts"), "utf8")).toBe(placementLnSource());
  });

  it("is 2^32 log2(v / 2^24) within 8 units and never decreasing", () => {
    expect(log2Fixed(1)).toBe(-24 * 2 ** 32);
    expect(log2Fixed(1 << 23)).toBe(-(2 ** 32));
    expect(log2Fixed(1 << 24)).toBe(0);
    let prev = -Infinity;
    let worst = 0;
    const bad: number[] = [];
    for (let v = 1; v <= 1 << 24; v += v < 1 << 16 ? 1 : 251) {
      const got = log2Fixed(v);
      if (!Number.isInteger(got) || got < prev) bad.push(v);
      worst = Math.max(worst, Math.abs(got - Math.log2(v / 2 ** 24) * 2 ** 32));
      prev = got;
    }
    expect(bad, "not an integer or smaller than the value before").toEqual([]);
    expect(worst).toBeLessThan(8);
  });
});

describe("pgOf", () => {
  const file = blake3Hex(new TextEncoder().encode("a file"));

  it("is pinned: these values must never change (validators and miners of every version agree)", () => {
    expect([0, 1, 2, 1000].map((s) => pgOf(file, s, 16384))).toEqual(PINNED_PGS);
  });

  it("spreads stripes evenly over the placement groups", () => {
    const counts = new Array(16).fill(0);
    for (let s = 0; s < 16000; s++) counts[pgOf(file, s, 16)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });

  it("checks its arguments", () => {
    expect(() => pgOf("ABC", 0, 16)).toThrow(/fileHash must be a BLAKE3-256 hash/);
    expect(() => pgOf(file.toUpperCase(), 0, 16)).toThrow(TypeError);
    expect(() => pgOf(file, -1, 16)).toThrow(/stripeIndex must be a non-negative integer/);
    expect(() => pgOf(file, 0, 0)).toThrow(new RegExp(`pgCount must be an integer in 1\\.\\.${MAX_PG_COUNT}`));
    expect(() => pgOf(file, 0, 1.5)).toThrow(RangeError);
  });
});
/** pgOf(BLAKE3("a file"), stripe 0 / 1 / 2 / 1000, 16384): recorded when the hash input was defined. */
const PINNED_PGS = [15327, 13699, 14934, 15032];

describe("placePg", () => {
  it("is pinned: this placement must never change", () => {
    expect(placePg(7, members(7, 6), 6)).toEqual(PINNED_PLACEMENT);
  });

  it("never puts two positions of a PG in one family, and uses distinct members (10,000 PGs, several maps)", () => {
    for (const [n, f, count] of [[7, 6, 6], [10, 10, 6], [40, 13, 6], [30, 20, 14]] as const) {
      const ms = members(n, f, (i) => 1 + (i % 5));
      const fam = familyOf(ms);
      const all = placeAll(10_000, ms, count);
      all.forEach((ids, pg) => {
        expect(ids.length).toBe(count);
        expect(new Set(ids.map((id) => fam.get(id))).size, `n=${n} f=${f} pg ${pg}: ${ids}`).toBe(count);
      });
    }
  });

  it("does not depend on the order of the members", () => {
    const ms = members(12, 8, (i) => 1 + (i % 3));
    const r = rng(5);
    const shuffled = ms.map((m) => [r(), m] as const).sort((a, b) => a[0] - b[0]).map(([, m]) => ({ ...m }));
    for (let pg = 0; pg < 500; pg++) expect(placePg(pg, shuffled, 6), `pg ${pg}`).toEqual(placePg(pg, ms, 6));
  });

  it("never chooses a member of weight 0", () => {
    const ms = members(10, 10, (i) => (i === 3 ? 0 : 1));
    for (const ids of placeAll(3000, ms, 6)) expect(ids).not.toContain("node-003");
  });

  it("honours weights within 10 % (each of 8 members for one position, 50,000 PGs; each weight class for 3 of 24, 30,000 PGs)", () => {
    for (const [n, count, pgs] of [[8, 1, 50_000], [24, 3, 30_000]] as const) {
      const ms = members(n, n, (i) => 1 + (i % 4));
      const total = ms.reduce((a, m) => a + m.weight, 0);
      // Shares per member with one position; with several, per weight class (sampling without replacement
      // favours light members a little, and a class sums enough draws to see that rather than noise).
      const key = (m: PlacementMember) => (count === 1 ? m.id : `weight ${m.weight}`);
      const byId = new Map(ms.map((m) => [m.id, m]));
      const got = new Map<string, number>();
      const want = new Map<string, number>();
      for (const m of ms) want.set(key(m), (want.get(key(m)) ?? 0) + (pgs * count * m.weight) / total);
      for (const ids of placeAll(pgs, ms, count)) for (const id of ids) got.set(key(byId.get(id)!), (got.get(key(byId.get(id)!)) ?? 0) + 1);
      const off = [...want].map(([k, w]) => [k, (got.get(k) ?? 0) / w - 1] as const);
      const worst = Math.max(...off.map(([, d]) => Math.abs(d)));
      console.log(`placement weights: ${count} of ${n} members (weights 1..4), ${pgs} PGs: worst share off by ${(worst * 100).toFixed(1)} %`);
      for (const [k, d] of off) expect(Math.abs(d), `${count} of ${n}: ${k} off by ${(d * 100).toFixed(1)} %`).toBeLessThan(0.1);
    }
  });

  it("adding one member to n moves close to 1/(n+1) of the shard positions (10,000+ PGs)", () => {
    const PGS = 12_000;
    for (const [n, f, count] of [[10, 10, 1], [10, 10, 6], [20, 20, 6], [40, 20, 6]] as const) {
      const ms = members(n, f);
      const before = placeAll(PGS, ms, count);
      const after = placeAll(PGS, [...ms, { id: "newcomer", family: `fam-${n}`, weight: 1 }], count);
      let moved = 0;
      let toNew = 0;
      let pgsTouched = 0;
      before.forEach((ids, pg) => {
        let touched = false;
        ids.forEach((id, pos) => {
          if (after[pg]![pos] === id) return;
          moved++;
          touched = true;
          if (after[pg]![pos] === "newcomer") toNew++;
        });
        if (touched) pgsTouched++;
      });
      const slots = PGS * count;
      const ideal = 1 / (n + 1);
      console.log(
        `placement join: ${n}+1 members, ${f} families, ${count} positions: ${((moved / slots) * 100).toFixed(2)} % of positions moved` +
          ` (ideal ${(ideal * 100).toFixed(2)} %; ${((toNew / slots) * 100).toFixed(2)} % to the newcomer), ${((pgsTouched / PGS) * 100).toFixed(1)} % of PGs touched`,
      );
      expect(moved / slots).toBeGreaterThan(0.8 * ideal);
      expect(moved / slots).toBeLessThan(1.5 * ideal);
      if (count === 1) expect(toNew).toBe(moved);
    }
  });

  it("a leaving member changes no PG it held no shard of, and moves few shards besides its own", () => {
    const PGS = 10_000;
    for (const [n, f] of [[10, 10], [7, 6], [40, 20]] as const) {
      const ms = members(n, f, (i) => 1 + (i % 3));
      const gone = ms[n - 1]!.id;
      const before = placeAll(PGS, ms, 6);
      const after = placeAll(PGS, ms.filter((m) => m.id !== gone), 6);
      let own = 0;
      let others = 0;
      before.forEach((ids, pg) => {
        if (!ids.includes(gone)) return void expect(after[pg], `pg ${pg} did not hold ${gone}`).toEqual(ids);
        ids.forEach((id, pos) => {
          if (id === gone) own++;
          else if (after[pg]![pos] !== id) others++;
        });
      });
      console.log(`placement leave: ${n} members in ${f} families lose one: its ${own} shards move, and ${others} others (${((others / own) * 100).toFixed(0)} % extra)`);
      expect(others / own).toBeLessThan(n === 7 ? 1.5 : 0.5);
    }
  });

  it("with too few families: a PlacementError naming the families available and needed", () => {
    const ms = members(7, 5);
    let err: unknown;
    try {
      placePg(0, ms, 6);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlacementError);
    const pe = err as PlacementError;
    expect(pe.message).toMatch(/6 shard positions need 6 families, but only 5 .*\(fam-0, fam-1, fam-2, fam-3, fam-4\)/);
    expect([pe.familiesAvailable, pe.needed, pe.membersAvailable]).toEqual([["fam-0", "fam-1", "fam-2", "fam-3", "fam-4"], 6, 7]);
    // Weight 0 members do not count.
    expect(() => placePg(0, members(6, 6, (i) => (i === 0 ? 0 : 1)), 6)).toThrow(/only 5 have members with weight > 0/);
  });

  it("allowFamilyReuse spreads positions over the families it has, each member at most once", () => {
    const ms = members(9, 4);
    const fam = familyOf(ms);
    for (const ids of placeAll(2000, ms, 6, { allowFamilyReuse: true })) {
      expect(new Set(ids).size).toBe(6);
      const per = new Map<string, number>();
      for (const id of ids) per.set(fam.get(id)!, (per.get(fam.get(id)!) ?? 0) + 1);
      expect(Math.max(...per.values())).toBeLessThanOrEqual(2);
    }
    // One big family and one small one: every position is still filled by a distinct member.
    const lopsided = [...members(5, 1), { id: "solo", family: "other", weight: 1 }];
    for (const ids of placeAll(200, lopsided, 6, { allowFamilyReuse: true })) expect(new Set(ids).size).toBe(6);
    expect(() => placePg(0, members(4, 2), 6, { allowFamilyReuse: true })).toThrow(/need 6 members with weight > 0, but there are 4/);
  });

  it("checks its arguments", () => {
    const ms = members(6, 6);
    expect(() => placePg(-1, ms, 6)).toThrow(/pg must be an integer/);
    expect(() => placePg(2 ** 32, ms, 6)).toThrow(/pg must be an integer/);
    expect(() => placePg(0, ms, 257)).toThrow(/count must be an integer in 0\.\.256/);
    expect(placePg(0, ms, 0)).toEqual([]);
    expect(() => placePg(0, "x" as never, 6)).toThrow(/members must be an array/);
    expect(() => placePg(0, [...ms, { ...ms[0]! }], 6)).toThrow(/member id node-000 appears twice/);
    expect(() => placePg(0, [{ id: "a", family: "f", weight: -1 }], 1)).toThrow(/member a: weight must be a finite number >= 0, got -1/);
    expect(() => placePg(0, [{ id: "a", family: "f", weight: Infinity }], 1)).toThrow(/weight must be a finite number/);
    expect(() => placePg(0, [{ id: "a", family: "", weight: 1 }], 1)).toThrow(/member a: family must be a string/);
    expect(() => placePg(0, [{ id: "", family: "f", weight: 1 }], 1)).toThrow(/member 0: id must be a string/);
    expect(() => placePg(0, [null as never], 1)).toThrow(/member 0 is not an object/);
  });

  it("notices a member array changed after an earlier call", () => {
    const ms = members(8, 8);
    const first = placePg(3, ms, 6);
    ms[0] = { ...ms[0]!, weight: 0 };
    const second = placePg(3, ms, 6);
    expect(second).not.toContain("node-000");
    expect(placePg(3, members(8, 8), 6)).toEqual(first);
  });
});
/** placePg(7, members(7, 6), 6): recorded when the draw was defined. */
const PINNED_PLACEMENT = ["node-005", "node-004", "node-002", "node-000", "node-001", "node-003"];

describe("determinism across processes", () => {
  it("two slowdrip processes print the same placements, equal to this process's", async () => {
    const ms = members(9, 7, (i) => 1 + (i % 3));
    const file = join(tmp, "members.json");
    writeFileSync(file, JSON.stringify(ms));
    const run = () =>
      promisify(execFile)(process.execPath, [join(ROOT, "dist/slowdrip.mjs"), "cluster", "place", "--members", file, "--pg-count", "2048"], {
        maxBuffer: 64 << 20,
      });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a.stdout).toBe(b.stdout);
    const mine = placeAll(2048, ms, 6).map((ids, pg) => `${pg}\t${ids.join(" ")}\n`).join("");
    expect(a.stdout).toBe(mine);
  });
});

describe("slowdrip cluster place", () => {
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, [join(ROOT, "dist/slowdrip.mjs"), "cluster", "place", ...args]).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it("prints stripes of a file and single PGs; refuses bad input with a one-line reason", async () => {
    const file = join(tmp, "five.json");
    writeFileSync(file, JSON.stringify(members(5, 5)));
    const hash = blake3Hex(new Uint8Array(0));
    const stripes = await cli("--members", file, "--pg-count", "64", "--count", "3", "--file", hash, "--stripes", "4", "--json");
    expect(stripes.code, stripes.stderr).toBe(0);
    const lines = stripes.stdout.trim().split("\n").map((l) => JSON.parse(l) as { stripe: number; pg: number; members: string[] });
    expect(lines.map((l) => l.stripe)).toEqual([0, 1, 2, 3]);
    for (const l of lines) expect([l.pg, l.members]).toEqual([pgOf(hash, l.stripe, 64), placePg(l.pg, members(5, 5), 3)]);
    const one = await cli("--members", file, "--pg-count", "64", "--count", "2", "--pg", "9");
    expect(one.stdout).toBe(`9\t${placePg(9, members(5, 5), 2).join(" ")}\n`);

    const tooFew = await cli("--members", file, "--pg-count", "64");
    expect(tooFew.code).toBe(1);
    expect(tooFew.stderr).toMatch(/^slowdrip cluster: placement: 6 shard positions need 6 families, but only 5/);
    expect((await cli("--pg-count", "64")).stderr).toMatch(/--members FILE is required/);
    expect((await cli("--members", file, "--pg-count", "0")).code).toBe(2);
    expect((await cli("--members", file, "--pg-count", "8", "--pg", "8")).stderr).toMatch(/--pg must be an integer in 0\.\.7/);
    writeFileSync(join(tmp, "bad.json"), "{");
    expect((await cli("--members", join(tmp, "bad.json"), "--pg-count", "8")).stderr).toMatch(/not JSON/);
    writeFileSync(join(tmp, "dup.json"), JSON.stringify([...members(3, 3), members(1, 1)[0]]));
    expect((await cli("--members", join(tmp, "dup.json"), "--pg-count", "8", "--count", "2")).stderr).toMatch(/appears twice/);
  });
});
