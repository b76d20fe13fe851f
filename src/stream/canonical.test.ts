// RFC 8785 canonical JSON: vectors from the RFC and the subset rules.
import { describe, expect, it } from "vitest";
import { CanonicalError, canonicalJson } from "./canonical.ts";

describe("canonicalJson (RFC 8785)", () => {
  it("matches the RFC's examples", () => {
    // RFC 8785 section 3.2.2 (input) and 3.2.3 (output).
    const input = {
      numbers: [333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001],
      string: "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      literals: [null, true, false],
    };
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
    // Section 3.2.3 sorting example: keys sorted by UTF-16 code units.
    const sorting = { "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis" };
    const order = [...canonicalJson(sorting).matchAll(/:"([^"]*)"/g)].map((m) => m[1]);
    expect(order).toEqual([
      "Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis", "Euro Sign", "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh",
    ]);
  });

  it("refuses values without a canonical form, naming where", () => {
    const cases: [string, unknown, string][] = [
      ["NaN", { a: [1, NaN] }, ".a[1]"],
      ["Infinity", { b: Infinity }, ".b"],
      ["undefined member", { c: undefined }, ".c"],
      ["Date", { d: new Date(0) }, ".d"],
      ["bigint", { e: 1n }, ".e"],
    ];
    for (const [name, v, path] of cases) {
      let err: unknown;
      try {
        canonicalJson(v);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(CanonicalError);
      expect((err as CanonicalError).path, name).toBe(path);
    }
    expect(canonicalJson(-0)).toBe("0");
  });
});
