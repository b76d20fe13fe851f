// The validator's registry on a real LMDB: registration policy (signer, signed timestamp, rate limit, families),
// heartbeats, liveness, faults (a faulty mark survives going down), rebalance reports, wardens, and epochs with signed
// maps kept for cluster.epoch_history.
import { afterEach, describe, expect, it } from "vitest";
import { tmpdir } from "node:os";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import { randomSecret } from "../identity/ed25519.ts";
import { identityFromSecret } from "../identity/identity.ts";
import { openSignedMap } from "../cluster/map.ts";
import { ValidatorStats } from "../cluster/stats.ts";
import { createLogger } from "../node/logger.ts";
import { openLmdb } from "../store/lmdb-native.ts";
import { BadRequestError, ClusterParamsError, EpochNotKeptError, NotAllowedError } from "./errors.ts";
import { REGISTER_BURST, Registry, weightOf, type RegistryOptions } from "./registry.ts";

const me = identityFromSecret(randomSecret());
const miners = Array.from({ length: 3 }, () => identityFromSecret(randomSecret()));
let roots: RootDatabase[] = [];

async function open(over: Partial<RegistryOptions> = {}, path = mkdtempSync(join(tmpdir(), "slowdrip-registry-"))) {
  const root = await openLmdb({ path, compression: false });
  roots.push(root);
  let now = over.now ? over.now() : 1_000_000;
  const clock = { set: (t: number) => (now = t), get: () => now };
  const r = await Registry.open(root, {
    nodeId: me.nodeId,
    secretKey: me.secretKey,
    params: { pgCount: 64, dataShards: 4, parityShards: 2, allowFamilyReuse: false },
    families: [],
    memberTimeoutMs: 5000,
    epochHistory: 3,
    hasFiles: () => false,
    stats: new ValidatorStats(),
    log: createLogger("silent"),
    coalesceMs: 1,
    now: () => now,
    ...over,
  });
  return { r, clock, path };
}

afterEach(async () => {
  for (const r of roots) await r.close();
  roots = [];
});

const reg = (id: string, family: string, now: number, over = {}) => ({ nodeId: id, endpoint: "http://127.0.0.1:9000", family, totalBytes: 2 * 1024 ** 3, availableBytes: 1024 ** 3, timestamp: now, ...over });

describe("Registry", () => {
  it("starts at epoch 1 and begins a new epoch, signed and verifiable, when a member joins", async () => {
    const { r, clock } = await open();
    expect(r.current().map.epoch).toBe(1);
    expect((await r.register(miners[0]!.nodeId, reg(miners[0]!.nodeId, "f1", clock.get()))).status).toBe("ok");
    await r.settle();
    const { map, signed } = r.current();
    expect(map.epoch).toBe(2);
    expect(openSignedMap(signed, me.nodeId).members.map((m) => [m.id, m.family, m.weight])).toEqual([[miners[0]!.nodeId, "f1", weightOf(2 * 1024 ** 3)]]);
  });

  it("refuses registering another node's id and a timestamp outside the window", async () => {
    const { r, clock } = await open();
    await expect(r.register(miners[1]!.nodeId, reg(miners[0]!.nodeId, "f1", clock.get()))).rejects.toBeInstanceOf(NotAllowedError);
    await expect(r.register(miners[0]!.nodeId, reg(miners[0]!.nodeId, "f1", clock.get() - 61_000))).rejects.toBeInstanceOf(BadRequestError);
    expect(r.record(miners[0]!.nodeId)).toBeUndefined();
  });

  it("rate-limits a storm of registrations from one id with a retry-after", async () => {
    const { r, clock } = await open();
    const id = miners[0]!.nodeId;
    const answers = [];
    for (let i = 0; i < REGISTER_BURST + 3; i++) answers.push(await r.register(id, reg(id, "f1", clock.get())));
    expect(answers.slice(0, REGISTER_BURST).every((a) => a.status === "ok")).toBe(true);
    const limited = answers.slice(REGISTER_BURST);
    expect(limited.every((a) => a.status === "rate-limited" && a.retryAfterMs > 0)).toBe(true);
    clock.set(clock.get() + 5000);
    expect((await r.register(id, reg(id, "f1", clock.get()))).status).toBe("ok");
  });

  it("applies the family policy: allowed families, and a member keeps its family", async () => {
    const { r, clock } = await open({ families: ["f1", "f2"] });
    const a = await r.register(miners[0]!.nodeId, reg(miners[0]!.nodeId, "rogue", clock.get()));
    expect(a).toEqual({ status: "family-rejected", reason: expect.stringContaining("cluster.families") });
    expect((await r.register(miners[0]!.nodeId, reg(miners[0]!.nodeId, "f1", clock.get()))).status).toBe("ok");
    const b = await r.register(miners[0]!.nodeId, reg(miners[0]!.nodeId, "f2", clock.get()));
    expect(b).toEqual({ status: "family-rejected", reason: expect.stringContaining("cannot change family") });
  });

  it("answers UNKNOWN to strangers and to members that went down, which must register again", async () => {
    const { r, clock } = await open();
    const id = miners[0]!.nodeId;
    expect(r.heartbeat(id, { availableBytes: 1, shardsStored: 0 }).known).toBe(false);
    await r.register(id, reg(id, "f1", clock.get()));
    await r.settle();
    expect(r.heartbeat(id, { availableBytes: 1, shardsStored: 0 }).known).toBe(true);
    clock.set(clock.get() + 6000);
    r.sweep();
    await r.settle();
    expect(r.record(id)?.state).toBe("down");
    expect(r.current().map.members).toEqual([]);
    expect(r.heartbeat(id, { availableBytes: 1, shardsStored: 0 }).known).toBe(false);
    await r.register(id, reg(id, "f1", clock.get()));
    await r.settle();
    expect(r.current().map.members.map((m) => m.id)).toEqual([id]);
  });

  it("markFaulty gives the member weight 0 in the next epoch; faults are counted", async () => {
    const { r, clock } = await open();
    const id = miners[0]!.nodeId;
    await r.register(id, reg(id, "f1", clock.get()));
    await r.settle();
    expect(r.addFault(id)).toBe(1);
    await r.markFaulty(id, "failed storage proofs");
    await r.settle();
    expect(r.current().map.members[0]).toMatchObject({ id, weight: 0, state: "faulty" });
    expect(r.record(id)).toMatchObject({ faults: 1, faultReason: "failed storage proofs" });
  });

  it("a member marked faulty that goes down and registers again is still faulty", async () => {
    const { r, clock } = await open();
    const id = miners[0]!.nodeId;
    await r.register(id, reg(id, "f1", clock.get()));
    await r.markFaulty(id, "2 failed storage proofs");
    await r.settle();
    clock.set(clock.get() + 6000);
    r.sweep();
    await r.settle();
    expect(r.record(id)?.state).toBe("down");
    await r.register(id, reg(id, "f1", clock.get()));
    await r.settle();
    expect(r.current().map.members[0]).toMatchObject({ id, weight: 0, state: "faulty" });
    // A member that was only down (never marked) comes back up.
    const other = miners[1]!.nodeId;
    await r.register(other, reg(other, "f2", clock.get()));
    await r.settle();
    clock.set(clock.get() + 6000);
    r.heartbeat(id, { availableBytes: 1, shardsStored: 0 });
    r.sweep();
    await r.register(other, reg(other, "f2", clock.get()));
    await r.settle();
    expect(r.current().map.members.find((m) => m.id === other)).toMatchObject({ state: "up" });
  });

  it("remembers the newest epoch a member reported a complete rebalance for, never one that does not exist yet", async () => {
    const { r, clock } = await open();
    const id = miners[0]!.nodeId;
    await r.register(id, reg(id, "f1", clock.get()));
    await r.settle();
    const epoch = r.current().map.epoch;
    const fig = (e: number, complete: boolean) => ({ epoch: e, wanted: 1, missing: 0, pulled: 0, failed: 0, bytes: 0, complete, orphans: 0, gcDeleted: 0 });
    expect(r.settledEpoch(id)).toBe(0);
    r.heartbeat(id, { availableBytes: 1, shardsStored: 1, rebalance: fig(epoch, false) });
    expect(r.settledEpoch(id)).toBe(0);
    r.heartbeat(id, { availableBytes: 1, shardsStored: 1, rebalance: fig(epoch + 5, true) });
    expect(r.settledEpoch(id)).toBe(0);
    r.heartbeat(id, { availableBytes: 1, shardsStored: 1, rebalance: fig(epoch, true) });
    expect(r.settledEpoch(id)).toBe(epoch);
    // A pass in progress later does not undo it.
    r.heartbeat(id, { availableBytes: 1, shardsStored: 1, rebalance: fig(epoch, false) });
    expect(r.settledEpoch(id)).toBe(epoch);
  });

  it("lists the configured wardens in the map; a changed list begins a new epoch at start, an unchanged one does not", async () => {
    const w = [miners[2]!.nodeId, me.nodeId];
    const first = await open({ wardens: w });
    expect(first.r.current().map.wardens).toEqual([...w].sort());
    expect(first.r.current().map.epoch).toBe(1);
    await first.r.stop();
    await roots.pop()!.close();
    const same = await open({ wardens: w }, first.path);
    expect(same.r.current().map.epoch).toBe(1);
    await same.r.stop();
    await roots.pop()!.close();
    const fewer = await open({ wardens: [me.nodeId] }, first.path);
    expect(fewer.r.current().map).toMatchObject({ epoch: 2, wardens: [me.nodeId] });
    expect(fewer.r.heartbeat(miners[0]!.nodeId, { availableBytes: 1, shardsStored: 0 }).wardens).toEqual([me.nodeId]);
    await roots.pop()!.close();
    await expect(open({ wardens: ["nope"] })).rejects.toThrow(/node ids/);
  });

  it("keeps the last epoch_history maps and says which epochs it keeps", async () => {
    const { r, clock } = await open();
    for (const m of miners) {
      await r.register(m.nodeId, reg(m.nodeId, `f${m.nodeId.slice(0, 4)}`, clock.get()));
      await r.settle();
    }
    expect(r.current().map.epoch).toBe(4);
    expect(openSignedMap(r.signedAt(2), me.nodeId).epoch).toBe(2);
    expect(() => r.signedAt(1)).toThrow(EpochNotKeptError);
  });

  it("survives a restart: members, epoch and map; placement parameters may not change while files exist", async () => {
    const first = await open();
    const id = miners[0]!.nodeId;
    await first.r.register(id, reg(id, "f1", first.clock.get()));
    await first.r.settle();
    await first.r.stop();
    await roots.pop()!.close();
    const again = await open({}, first.path);
    expect(again.r.current().map.epoch).toBe(2);
    expect(again.r.isMember(id)).toBe(true);
    await roots.pop()!.close();
    await expect(open({ params: { pgCount: 128, dataShards: 4, parityShards: 2, allowFamilyReuse: false }, hasFiles: () => true }, first.path)).rejects.toBeInstanceOf(ClusterParamsError);
  });
});
