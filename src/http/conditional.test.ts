// Unit tests of the entity-tag list parser and the If-None-Match (weak) / If-Range (strong) comparisons.
import { describe, expect, it } from "vitest";
import { ifNoneMatchHits, ifRangeAllows, parseEntityTags } from "./conditional.ts";

const H = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

describe("parseEntityTags", () => {
  it.each([
    ["*", { any: true }],
    [" * ", { any: true }],
    [`"${H}"`, { any: false, tags: [{ weak: false, opaque: H }] }],
    [`W/"${H}"`, { any: false, tags: [{ weak: true, opaque: H }] }],
    [`"a", W/"b" ,,"c"`, { any: false, tags: [{ weak: false, opaque: "a" }, { weak: true, opaque: "b" }, { weak: false, opaque: "c" }] }],
    ['""', { any: false, tags: [{ weak: false, opaque: "" }] }],
    ['"a,b"', { any: false, tags: [{ weak: false, opaque: "a,b" }] }],
  ])("%s", (v, want) => expect(parseEntityTags(v)).toEqual(want));

  it.each([H, `"${H}`, `w/"${H}"`, `W/ "${H}"`, '"a" "b"', '"a", *', '"a b"', '"a"x', "", " , ", '"\u0001"'])("refuses %j", (v) => {
    expect(parseEntityTags(v)).toBeUndefined();
  });
});

describe("If-None-Match uses weak comparison", () => {
  it.each([
    [`"${H}"`, true],
    [`W/"${H}"`, true],
    ["*", true],
    [`"other", W/"${H}"`, true],
    [`W/"other",   "${H}"`, true],
    [`"other"`, false],
    [`W/"other", "x"`, false],
    [H, false],
    [`"${H}" garbage`, false],
    [undefined, false],
  ])("%s -> %s", (v, want) => expect(ifNoneMatchHits(v, H)).toBe(want));
});

describe("If-Range uses strong comparison", () => {
  it.each([
    [undefined, true],
    [`"${H}"`, true],
    [` "${H}" `, true],
    [`W/"${H}"`, false],
    [`"other"`, false],
    ["*", false],
    [`"${H}", "${H}"`, false],
    ["Wed, 21 Oct 2015 07:28:00 GMT", false],
  ])("%s -> %s", (v, want) => expect(ifRangeAllows(v, H)).toBe(want));
});
