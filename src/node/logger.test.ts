// Log formats: JSON lines for pipes and journald, readable lines on a terminal, node.log_format overriding the choice.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, prettyLine, resolveLogFormat } from "./logger.ts";

function capture(format: "auto" | "json" | "pretty", tty = false): { out: () => string[]; stream: PassThrough } {
  const stream = new PassThrough();
  if (tty) (stream as unknown as { isTTY: boolean }).isTTY = true;
  const lines: string[] = [];
  let buf = "";
  stream.on("data", (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split("\n");
    buf = parts.pop()!;
    lines.push(...parts);
  });
  return { out: () => lines, stream };
}

describe("logs", () => {
  it("keeps JSON, one event per line, when not on a terminal (auto and json)", async () => {
    for (const f of ["auto", "json"] as const) {
      const c = capture(f);
      createLogger("info", c.stream, f).info({ path: "live/x", n: 3 }, "segment sealed");
      await new Promise((r) => setImmediate(r));
      const line = JSON.parse(c.out()[0]!) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 30, msg: "segment sealed", path: "live/x", n: 3, service: "slowdrip" });
    }
  });

  it("prints readable lines (time, level, message, key fields) on a terminal or with pretty", async () => {
    const tty = capture("auto", true);
    const prev = process.env.NO_COLOR;
    process.env.NO_COLOR = "1";
    try {
      createLogger("info", tty.stream, "auto").warn({ path: "live/x", err: new RangeError("bad size") }, "segment refused");
    } finally {
      if (prev === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = prev;
    }
    const piped = capture("pretty");
    createLogger("debug", piped.stream, "pretty").debug({ detail: "two words" }, "hello");
    await new Promise((r) => setImmediate(r));
    expect(tty.out()[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN  segment refused path=live\/x err="RangeError: bad size"$/);
    expect(piped.out()[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} DEBUG hello detail="two words"$/);
  });

  it("colours only on a terminal and passes non-JSON lines through", () => {
    const j = JSON.stringify({ level: 50, time: "2026-01-02T03:04:05.678Z", msg: "boom", code: 7 });
    expect(prettyLine(j, false)).toBe("03:04:05.678 ERROR boom code=7");
    expect(prettyLine(j, true)).toContain("\x1b[31mERROR");
    expect(prettyLine("plain text", false)).toBe("plain text");
    expect(resolveLogFormat("auto", new PassThrough())).toBe("json");
    expect(resolveLogFormat("pretty", new PassThrough())).toBe("pretty");
  });
});
