// Unit tests of the Range header interpretation used by GET /blobs/<hash>.
import { describe, expect, it } from "vitest";
import { chooseRange } from "./blobs.ts";

describe("chooseRange", () => {
  const cases: [string | undefined, number, ReturnType<typeof chooseRange>][] = [
    [undefined, 100, { kind: "full" }],
    ["bytes=0-9", 100, { kind: "range", start: 0, end: 9 }],
    ["bytes=90-", 100, { kind: "range", start: 90, end: 99 }],
    ["bytes=90-1000", 100, { kind: "range", start: 90, end: 99 }],
    ["bytes=-10", 100, { kind: "range", start: 90, end: 99 }],
    ["bytes=-1000", 100, { kind: "range", start: 0, end: 99 }],
    ["BYTES = 5 - 6", 100, { kind: "range", start: 5, end: 6 }],
    ["bytes=100-", 100, { kind: "unsatisfiable" }],
    ["bytes=100-200", 100, { kind: "unsatisfiable" }],
    ["bytes=-0", 100, { kind: "unsatisfiable" }],
    ["bytes=0-", 0, { kind: "unsatisfiable" }],
    ["bytes=0-1,5-6", 100, { kind: "full" }],
    ["bytes=9-3", 100, { kind: "full" }],
    ["items=0-1", 100, { kind: "full" }],
    ["bytes=-", 100, { kind: "full" }],
    ["bytes=99999999999999999999-", 100, { kind: "full" }],
    [`bytes=${"1".repeat(300)}-`, 100, { kind: "full" }],
  ];
  it.each(cases)("%s of %i bytes", (header, size, want) => {
    expect(chooseRange(header, size)).toEqual(want);
  });
});
