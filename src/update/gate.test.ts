// The trial boot's health gate against a real HTTP server on loopback: green passes, a late green passes, a node that
// keeps restarting or whose unit has failed fails at once, a silent one at the timeout. The unit's state is supplied by
// the test: systemd is not PID 1 here, so it cannot be made to restart a unit (the VM test runs the real one).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATE_MAX_RESTARTS, parseUnitState, runGate, type UnitState } from "./gate.ts";

let server: Server;
let url = "";
let greenAt = Infinity;

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.statusCode = Date.now() >= greenAt ? 200 : 503;
    res.end("{}");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const running = async (): Promise<UnitState> => ({ active: "active", restarts: 0 });

describe("update gate", () => {
  it("passes once /readyz answers 200", async () => {
    greenAt = Date.now() + 300;
    const r = await runGate({ url, timeoutMs: 10_000, intervalMs: 100, unit: running });
    expect(r).toEqual({ ok: true, reason: `${url} is green` });
    expect(Date.now()).toBeGreaterThanOrEqual(greenAt);
  });

  it(`fails at once when the node's unit has been restarted ${GATE_MAX_RESTARTS} times`, async () => {
    greenAt = Infinity;
    let restarts = 0;
    const t0 = Date.now();
    const r = await runGate({ url, timeoutMs: 60_000, intervalMs: 50, unit: async () => ({ active: "activating", restarts: restarts++ }) });
    expect(r.ok).toBe(false);
    expect(r.reason).toBe(`the node exited and was restarted ${GATE_MAX_RESTARTS} times (${url}: HTTP 503)`);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it("fails at once when the node's unit has failed", async () => {
    greenAt = Infinity;
    const r = await runGate({ url, timeoutMs: 60_000, intervalMs: 50, unit: async () => ({ active: "failed", restarts: 1 }) });
    expect(r).toEqual({ ok: false, reason: `the node's unit has failed (1 restarts; ${url}: HTTP 503)` });
  });

  it("fails at the timeout when /readyz never turns green, naming the last answer", async () => {
    greenAt = Infinity;
    const t0 = Date.now();
    const r = await runGate({ url, timeoutMs: 600, intervalMs: 100, unit: async () => undefined });
    expect(r).toEqual({ ok: false, reason: `${url} not green within update.health_timeout (HTTP 503)` });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
  });

  it("fails at the timeout when nothing listens, and counts a unit it cannot read as running", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const dead = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/readyz`;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await runGate({ url: dead, timeoutMs: 500, intervalMs: 100, unit: () => Promise.reject(new Error("no systemctl")) });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/not green within update\.health_timeout \(fetch failed\)/);
  });

  it("refuses a timeout that is not positive", async () => {
    await expect(runGate({ url, timeoutMs: 0, unit: running })).rejects.toThrow(/timeoutMs must be positive/);
  });
});

describe("systemctl show parsing", () => {
  it("reads ActiveState and NRestarts", () => {
    expect(parseUnitState("NRestarts=4\nActiveState=activating\n")).toEqual({ active: "activating", restarts: 4 });
    expect(parseUnitState("ActiveState=failed\nNRestarts=0")).toEqual({ active: "failed", restarts: 0 });
  });
  it("gives undefined when a field is missing or malformed", () => {
    expect(parseUnitState("ActiveState=active\n")).toBeUndefined();
    expect(parseUnitState("NRestarts=x\nActiveState=active")).toBeUndefined();
    expect(parseUnitState("")).toBeUndefined();
  });
});
