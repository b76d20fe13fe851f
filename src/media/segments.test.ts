// SegmentIntake: safe reads from the record directory, deletion after ingest, and recording order under racing hooks.
import { afterEach, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, existsSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBlobStore } from "../store/memory.ts";
import { StreamIngest, type SegmentSealed } from "../stream/ingest.ts";
import { signDelegation } from "../stream/manifest.ts";
import { MemoryManifestStore } from "../stream/persist.ts";
import { publicKeyHex } from "../stream/signing.ts";
import { parseSegmentHook, SegmentHookError, SegmentIntake, segmentStartUs } from "./segments.ts";

const secret = new Uint8Array(32).fill(5);
const key = publicKeyHex(secret);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-intake-"));
  dirs.push(dir);
  const rec = join(dir, "rec");
  mkdirSync(join(rec, "live/a"), { recursive: true });
  const now = Math.floor(Date.now() / 1000);
  const d = signDelegation({ type: "STREAM_DELEGATION", v: 1, stream: "*", creator: key, node: key, notBefore: now - 60, notAfter: now + 600 }, secret);
  const ingest = new StreamIngest({ store: new MemoryBlobStore(), persistence: new MemoryManifestStore(), nodeSecret: secret, delegationFor: () => d });
  const sealed: SegmentSealed[] = [];
  ingest.on("sealed", (s: SegmentSealed) => sealed.push(s));
  return { dir, rec, ingest, sealed, intake: new SegmentIntake({ ingest, recordDir: rec }) };
}

const seg = (fill: number) => new Uint8Array(1000).fill(fill);

describe("SegmentIntake", () => {
  it("ingests racing notices of one path in recording (file name) order and deletes the files", async () => {
    const { rec, intake, sealed } = setup();
    const names = ["2026-11-21_10-00-00-000001", "2026-11-21_10-00-01-000002", "2026-11-21_10-00-02-000003"];
    names.forEach((n, i) => writeFileSync(join(rec, `live/a/${n}.ts`), seg(i + 1)));
    // Hooks arrive out of order.
    await Promise.all([2, 0, 1].map((i) => intake.handle({ path: "live/a", file: join(rec, `live/a/${names[i]}.ts`), durationMs: 1000 })));
    expect(sealed.map((s) => s.entry.seq)).toEqual([0, 1, 2]);
    const b3 = await Promise.all([1, 2, 3].map(async (f) => (await new MemoryBlobStore().import([seg(f)])).hash));
    expect(sealed.map((s) => s.entry.blake3)).toEqual(b3);
    for (const n of names) expect(existsSync(join(rec, `live/a/${n}.ts`)), n).toBe(false);
  });

  it("takes a segment that starts where the last one ended at once, and holds one after a gap for the window", async () => {
    const { rec, ingest, sealed } = setup();
    const intake = new SegmentIntake({ ingest, recordDir: rec, reorderMs: 2000 });
    const names = ["2026-11-21_10-00-00-000000", "2026-11-21_10-00-01-000000", "2026-11-21_10-00-05-000000"];
    names.forEach((n, i) => writeFileSync(join(rec, `live/a/${n}.ts`), seg(i + 1)));
    const notice = (i: number) => ({ path: "live/a", file: join(rec, `live/a/${names[i]}.ts`), durationMs: 1000 });
    // The first segment of a path has nothing to follow: it waits the window.
    await intake.handle(notice(0));
    // The gap (10:00:02 to 10:00:05) could hide a notice still on its way: it waits; the contiguous one does not.
    let gapDone = false;
    const gap = intake.handle(notice(2)).then((s) => ((gapDone = true), s));
    const contiguous = await intake.handle({ ...notice(1) });
    expect(gapDone).toBe(false);
    expect(contiguous.entry.seq).toBe(1);
    expect(contiguous.timing.readMs).toBeGreaterThanOrEqual(0);
    expect((await gap).entry.seq).toBe(2);
    expect(sealed.map((s) => s.entry.seq)).toEqual([0, 1, 2]);
  });

  it("reads segment start times from MediaMTX file names only", () => {
    expect(segmentStartUs("/r/live/a/2026-11-21_10-00-01-000002.ts")! - segmentStartUs("/r/live/a/2026-11-21_10-00-00-500000.ts")!).toBe(500_002);
    for (const bad of ["/r/live/a/seg1.ts", "/r/live/a/2026-11-21_10-00-01.ts", "/r/2026-11-21_10-00-01-000002.ts/x"]) expect(segmentStartUs(bad), bad).toBeUndefined();
  });

  it("refuses files outside the record directory, symlinks out of it and missing files", async () => {
    const { dir, rec, intake } = setup();
    writeFileSync(join(dir, "outside.ts"), seg(9));
    symlinkSync(join(dir, "outside.ts"), join(rec, "live/a/link.ts"));
    const cases: [string, string, number][] = [
      ["outside", join(dir, "outside.ts"), 403],
      ["symlink out", join(rec, "live/a/link.ts"), 403],
      ["dot-dot", `${rec}/live/a/../../../outside.ts`, 403],
      ["missing", join(rec, "live/a/none.ts"), 404],
    ];
    for (const [name, file, status] of cases) {
      const err = await intake.handle({ path: "live/a", file, durationMs: 1000 }).then(() => null, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(SegmentHookError);
      expect((err as SegmentHookError).status, name).toBe(status);
    }
    expect(existsSync(join(dir, "outside.ts"))).toBe(true);
  });

  it("parses the hook's form body and bounds it", () => {
    expect(parseSegmentHook("path=live%2Fa&segment=%2Fr%2Fx.ts&duration=2.0213")).toEqual({ path: "live/a", file: "/r/x.ts", durationMs: 2021 });
    for (const [name, body] of [["relative", "path=a&segment=x.ts&duration=1"], ["no path", "segment=/x.ts&duration=1"], ["bad duration", "path=a&segment=/x&duration=abc"], ["huge", "x".repeat(9000)]] as const) {
      expect(() => parseSegmentHook(body), name).toThrow(SegmentHookError);
    }
  });
});
