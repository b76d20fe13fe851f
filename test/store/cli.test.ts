// `slowdrip blob` round trip through the built CLI against a running node: put, get (whole, range), ls, stat, pin, rm.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningNode } from "../../src/node/node.ts";
import { storeOnly } from "../../src/node/components.ts";
import { refHash, testBytes } from "../../src/store/contract.ts";
import { runCli, startTestNode, tempDir } from "../helpers/node.ts";

let node: RunningNode;
const dir = tempDir("slowdrip-cli-");
const a = testBytes(700_000, 41);
const b = testBytes(1234, 42);
const fa = join(dir, "a.bin");
const fb = join(dir, "b.bin");
writeFileSync(fa, a);
writeFileSync(fb, b);
const env = () => ({ SLOWDRIP_URL: node.adminUrl, SLOWDRIP_TOKEN: node.adminToken });
const blob = (args: string[], e: NodeJS.ProcessEnv = env()) => runCli(["blob", ...args], { cwd: dir, env: e });

beforeAll(async () => {
  node = await startTestNode({}, storeOnly);
});
afterAll(() => node?.stop());

describe("slowdrip blob", () => {
  it("put prints the hashes; get writes verified bytes; --range writes exactly the range", async () => {
    const put = await blob(["put", "a.bin", "b.bin"]);
    expect(put.stderr).toBe("");
    expect(put.code).toBe(0);
    expect(put.stdout).toBe(`${refHash(a)}  a.bin\n${refHash(b)}  b.bin\n`);

    const get = await blob(["get", refHash(a), "-o", "a.out"]);
    expect(get.code, get.stderr).toBe(0);
    expect(readFileSync(join(dir, "a.out")).equals(Buffer.from(a))).toBe(true);
    expect(existsSync(join(dir, "a.out.part"))).toBe(false);

    const range = await blob(["get", refHash(a), "--range", "300000-300999", "-o", "r.out"]);
    expect(range.code, range.stderr).toBe(0);
    expect(readFileSync(join(dir, "r.out")).equals(Buffer.from(a.subarray(300_000, 301_000)))).toBe(true);

    const tail = await blob(["get", refHash(b), "--range", "1200-", "-o", "tail.out"]);
    expect(tail.code, tail.stderr).toBe(0);
    expect(readFileSync(join(dir, "tail.out")).equals(Buffer.from(b.subarray(1200)))).toBe(true);
    const piped = await runCli(["blob", "put", "-"], { cwd: dir, env: env(), input: "from stdin\n" });
    expect(piped.stdout).toBe(`${refHash(Buffer.from("from stdin\n"))}  -\n`);
    expect((await blob(["rm", refHash(Buffer.from("from stdin\n"))])).code).toBe(0);
    const text = testBytes(100, 43).map((x) => 97 + (x % 26));
    writeFileSync(join(dir, "t.txt"), text);
    const [th] = (await blob(["put", "t.txt"])).stdout.split(" ");
    const out = await blob(["get", th!]);
    expect(out.stdout).toBe(Buffer.from(text).toString("latin1"));
    expect((await blob(["rm", th!])).code).toBe(0);
  });

  it("a range over several 16 MiB proof windows is verified and exact", async () => {
    const big = testBytes(40 * 1024 * 1024 + 5, 44);
    writeFileSync(join(dir, "big.bin"), big);
    const put = await blob(["put", "big.bin"]);
    expect(put.code, put.stderr).toBe(0);
    const h = refHash(big);
    const r = await blob(["get", h, "--range", "1000-35000000", "-o", "big.out"]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "big.out")).equals(Buffer.from(big.subarray(1000, 35_000_001)))).toBe(true);
    const tail = await blob(["get", h, "--range", "16777000-", "-o", "big.tail"]);
    expect(tail.code, tail.stderr).toBe(0);
    expect(readFileSync(join(dir, "big.tail")).equals(Buffer.from(big.subarray(16_777_000)))).toBe(true);
    const past = await blob(["get", h, "--range", `${big.length}-`]);
    expect(past.code).toBe(1);
    expect(past.stderr).toMatch(/OutOfRange/);
    expect((await blob(["rm", h])).code).toBe(0);
  });

  it("ls, stat, pin, rm (refused while pinned), unpin, rm", async () => {
    const ls = await blob(["ls"]);
    expect(ls.code).toBe(0);
    expect(ls.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]).sort()).toEqual([refHash(a), refHash(b)].sort());
    const stat = await blob(["stat", refHash(b), "--json"]);
    expect(JSON.parse(stat.stdout)).toMatchObject({ hash: refHash(b), size: 1234, pinned: false });
    expect((await blob(["pin", refHash(b)])).stdout).toBe(`pinned ${refHash(b)}\n`);
    const refused = await blob(["rm", refHash(b)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/FailedPrecondition: .*pinned/);
    expect((await blob(["unpin", refHash(b)])).code).toBe(0);
    expect((await blob(["rm", refHash(b)])).stdout).toBe(`deleted ${refHash(b)}\n`);
    const gone = await blob(["get", refHash(b), "-o", "gone.out"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/NotFound/);
    expect(existsSync(join(dir, "gone.out"))).toBe(false);
  });

  it("finds the admin token in --data-dir, and says why a control call fails without one", async () => {
    const viaDataDir = await blob(["pin", refHash(a), "--url", node.adminUrl, "--data-dir", node.dataDir], { SLOWDRIP_URL: "", SLOWDRIP_TOKEN: "" });
    expect(viaDataDir.code, viaDataDir.stderr).toBe(0);
    const none = await blob(["put", "a.bin", "--url", node.adminUrl, "--data-dir", dir], { SLOWDRIP_URL: "", SLOWDRIP_TOKEN: "" });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/Unauthenticated/);
  });

  it("bad input: malformed hash, bad range, missing file", async () => {
    const bad = await blob(["get", "nothex"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a blob hash/);
    expect((await blob(["get", refHash(a), "--range", "9-3"])).stderr).toMatch(/--range/);
    const missing = await blob(["put", "nope.bin"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read nope.bin/);
  });
});
