// The progress bar: drawn only on a terminal, fitted to its width, percentages and rates in the text.
import { describe, expect, it } from "vitest";
import { PassThrough } from "node:stream";
import { Progress, renderProgress } from "./progress.ts";

describe("progress bar", () => {
  it("renders a bar with percentage, sizes and rate within the width", () => {
    const s = renderProgress("put f", 32 * 1024 * 1024, 64 * 1024 * 1024, 1000, 70);
    expect(s).toMatch(/^put f \[#+ +\]  50% 32\.0 MiB\/64\.0 MiB 32\.0 MiB\/s$/);
    expect(s.length).toBeLessThanOrEqual(70);
    expect(renderProgress("get", 1024, undefined, 1000)).toBe("get 1.0 KiB 1.0 KiB/s");
  });
  it("writes nothing when stderr is not a terminal", () => {
    const out = new PassThrough();
    let written = "";
    out.on("data", (d) => (written += d));
    const p = new Progress(out, "put", 10);
    p.add(10);
    p.end();
    expect(written).toBe("");
    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 60 });
    tty.on("data", (d) => (written += d));
    const q = new Progress(tty, "put", 10);
    q.add(5);
    q.end();
    expect(written).toContain("\rput [");
  });
});
