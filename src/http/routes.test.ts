// Unit tests of the route table: which listener serves which route, and the hooks' loopback check on the socket address.
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { NodeMetrics } from "../node/metrics.ts";
import { createLogger } from "../node/logger.ts";
import { isLoopback, routeHandler, served, type HttpRoute, type ListenerName } from "./routes.ts";
import type { NodeRequest, NodeResponse } from "./types.ts";

/** A request as node:http hands it over, from `remoteAddress`, and a response that records what was written. */
function exchange(method: string, path: string, remoteAddress: string | undefined, headers: Record<string, string> = {}) {
  const req = Object.assign(new EventEmitter(), { method, url: path, headers, complete: true, destroyed: false, socket: { remoteAddress, destroyed: false } });
  const answer = { status: 0, body: "", done: false };
  const emitter = new EventEmitter();
  const res = Object.assign(emitter, {
    statusCode: 200,
    headersSent: false,
    destroyed: false,
    writeHead(status: number) {
      answer.status = status;
      this.statusCode = status;
      this.headersSent = true;
    },
    end(data?: Buffer) {
      if (!this.headersSent) answer.status = this.statusCode;
      answer.body = data ? data.toString() : "";
      answer.done = true;
      emitter.emit("finish");
    },
    destroy() {
      this.destroyed = true;
    },
  });
  return { req: req as unknown as NodeRequest, res: res as unknown as NodeResponse, answer };
}

const hit: string[] = [];
const routes: HttpRoute[] = [
  { name: "/hooks/mediamtx/auth", methods: ["POST"], path: "/hooks/mediamtx/auth", expose: "hooks", loopbackOnly: true, handle: ({ res }) => void (hit.push("hook"), res.end()) },
  { name: "/.well-known/jwks.json", methods: ["GET"], path: "/.well-known/jwks.json", expose: ["public", "hooks"], handle: ({ res }) => void (hit.push("jwks"), res.end()) },
  { name: "/blobs/:hash", methods: ["GET"], path: /^\/blobs\/([^/]*)$/, expose: "public", handle: ({ res }) => void (hit.push("blob"), res.end()) },
  { name: "/metrics", methods: ["GET"], path: "/metrics", expose: "admin", handle: ({ res }) => void (hit.push("metrics"), res.end()) },
  { name: "/unlabelled", methods: ["GET"], path: "/unlabelled", handle: ({ res }) => void (hit.push("unlabelled"), res.end()) },
];
const deps = { metrics: new NodeMetrics(), log: createLogger("silent"), mappers: [] };
const handlers = Object.fromEntries((["public", "admin", "hooks"] as const).map((l) => [l, routeHandler(routes, { ...deps, listener: l })])) as Record<ListenerName, ReturnType<typeof routeHandler>>;

/** Calls the listener's handler from `from` (null: a socket without an address). */
function call(listener: ListenerName, method: string, path: string, from: string | null = "127.0.0.1", headers: Record<string, string> = {}) {
  hit.length = 0;
  const x = exchange(method, path, from ?? undefined, headers);
  handlers[listener](x.req, x.res);
  return { ...x.answer, handled: [...hit] };
}

describe("the hooks' loopback check", () => {
  it.each(["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])("accepts %s", (addr) => {
    expect(call("hooks", "POST", "/hooks/mediamtx/auth", addr).handled).toEqual(["hook"]);
  });
  it.each(["10.0.0.1", "192.168.1.20", "::ffff:10.1.2.3", "fe80::1", "2001:db8::1", "128.0.0.1", "::2", ""])("refuses %j with 403", (addr) => {
    const a = call("hooks", "POST", "/hooks/mediamtx/auth", addr);
    expect(a.status).toBe(403);
    expect(a.handled).toEqual([]);
    expect(a.body).toMatch(/loopback/);
  });
  it("refuses a request whose socket has no address", () => {
    expect(call("hooks", "POST", "/hooks/mediamtx/auth", null).status).toBe(403);
  });
  it("ignores X-Forwarded-For, Forwarded and X-Real-IP: only the socket's address counts", () => {
    const spoof = { "x-forwarded-for": "127.0.0.1", forwarded: "for=127.0.0.1", "x-real-ip": "127.0.0.1" };
    expect(call("hooks", "POST", "/hooks/mediamtx/auth", "203.0.113.7", spoof).status).toBe(403);
    // And the other way round: a loopback socket with a foreign X-Forwarded-For is still loopback.
    expect(call("hooks", "POST", "/hooks/mediamtx/auth", "127.0.0.1", { "x-forwarded-for": "203.0.113.7" }).handled).toEqual(["hook"]);
  });
  it("isLoopback covers 127/8 and ::1 only", () => {
    expect(["127.0.0.1", "127.255.255.254", "::1", "::ffff:127.1.2.3"].every(isLoopback)).toBe(true);
    expect(["10.127.0.1", "::ffff:10.0.0.1", "1270.0.0.1", "0.0.0.0", "::", undefined].some(isLoopback)).toBe(false);
  });
});

describe("which listener serves which route", () => {
  it("the hooks are served on the hooks listener only", () => {
    expect(call("public", "POST", "/hooks/mediamtx/auth")).toMatchObject({ status: 403, handled: [] });
    expect(call("public", "POST", "/hooks/mediamtx/auth").body).toMatch(/hooks listener \(api\.hooks_listen\)/);
    expect(call("admin", "POST", "/hooks/mediamtx/auth")).toMatchObject({ status: 403, handled: [] });
  });
  it("admin routes (and routes that do not say) are refused on the public listener, naming the admin listener", () => {
    for (const p of ["/metrics", "/unlabelled"]) {
      const a = call("public", "GET", p);
      expect(a.status, p).toBe(403);
      expect(a.body).toMatch(/admin listener \(api\.admin_listen\)/);
      expect(call("admin", "GET", p).handled.length, p).toBe(1);
    }
  });
  it("public routes are served on the public and admin listeners, not on the hooks listener", () => {
    expect(call("public", "GET", `/blobs/${"a".repeat(64)}`).handled).toEqual(["blob"]);
    expect(call("admin", "GET", `/blobs/${"a".repeat(64)}`).handled).toEqual(["blob"]);
    expect(call("hooks", "GET", `/blobs/${"a".repeat(64)}`)).toMatchObject({ status: 404, handled: [] });
    expect(call("hooks", "GET", "/metrics")).toMatchObject({ status: 404, handled: [] });
  });
  it("JWKS is on the public and the hooks listeners", () => {
    for (const l of ["public", "admin", "hooks"] as const) expect(call(l, "GET", "/.well-known/jwks.json").handled, l).toEqual(["jwks"]);
  });
  it("served() follows the exposure", () => {
    const r = (expose?: HttpRoute["expose"]): HttpRoute => ({ name: "x", methods: ["GET"], path: "/x", ...(expose ? { expose } : {}), handle: () => {} });
    expect((["public", "admin", "hooks"] as const).map((l) => served(r("public"), l))).toEqual([true, true, false]);
    expect((["public", "admin", "hooks"] as const).map((l) => served(r("admin"), l))).toEqual([false, true, false]);
    expect((["public", "admin", "hooks"] as const).map((l) => served(r("hooks"), l))).toEqual([false, false, true]);
    expect((["public", "admin", "hooks"] as const).map((l) => served(r(), l))).toEqual([false, true, false]);
  });
});
