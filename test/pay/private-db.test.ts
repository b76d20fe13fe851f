// The money database is private after a start: <data_dir>/db 0700 and its files 0600, whatever the umask, also when an
// older version left it group- or world-readable.
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { open } from "lmdb";
import { startTestNode, tempDir } from "../helpers/node.ts";
import { payComponent } from "../../src/node/pay.ts";
import { storeComponent } from "../../src/node/store.ts";
import type { Assemble } from "../../src/node/node.ts";
import type { RunningNode } from "../../src/node/node.ts";

const payAndStore: Assemble = async (base, add) => {
  const pay = add(await payComponent(base));
  add(await storeComponent(base, { gates: pay.gates }));
};

const nodes: RunningNode[] = [];
const mode = (p: string) => statSync(p).mode & 0o777;
const umask = process.umask(0o002);

afterAll(async () => {
  for (const n of nodes) await n.stop();
  process.umask(umask);
});

function expectPrivate(db: string): void {
  expect(mode(db).toString(8)).toBe("700");
  const files = readdirSync(db);
  expect(files).toEqual(expect.arrayContaining(["data.mdb", "lock.mdb"]));
  for (const f of files) expect(`${f} ${mode(join(db, f)).toString(8)}`).toBe(`${f} 600`);
}

describe("<data_dir>/db is private to the node", () => {
  it("a fresh node (umask 002) creates db/ 0700 with 0600 files", async () => {
    const dir = tempDir();
    const node = await startTestNode({ "node.data_dir": dir }, payAndStore);
    nodes.push(node);
    expectPrivate(join(dir, "db"));
    await node.stop();
    expectPrivate(join(dir, "db"));
  });

  it("a node started on a db/ an older version left readable tightens it", async () => {
    const dir = tempDir();
    const db = join(dir, "db");
    mkdirSync(db, { mode: 0o755 });
    const old = open({ path: db });
    await old.put("x", 1);
    await old.close();
    writeFileSync(join(db, "stray"), "x", { mode: 0o644 });
    expect(mode(join(db, "data.mdb")) & 0o044).not.toBe(0);
    const node = await startTestNode({ "node.data_dir": dir }, payAndStore);
    nodes.push(node);
    expectPrivate(db);
  });
});
