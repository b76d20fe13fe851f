// Fuzz runner: sends each generated case to the target and judges the answer (no 5xx, no server-fault RPC code, no hang).
import { connect as netConnect } from "node:net";
import { Agent, request as httpRequest } from "node:http";
import { connect as connectH2, constants as H2, type ClientHttp2Session } from "node:http2";
import { Code } from "@connectrpc/connect";
import { describeCase, fuzzCase, type FuzzCase, type FuzzPools, type HttpCase, type RawCase, type RpcCase } from "./cases.ts";
import { connectCode, splitEnvelopes as frames } from "./wire.ts";

/** One answer that breaks the rules. */
export interface Finding {
  index: number;
  problem: string;
  case: string;
}

/** What a run did. */
export interface FuzzReport {
  seed: number;
  first: number;
  cases: number;
  ms: number;
  /** Cases per kind, the time they took (ms, summed over workers), and answers per status class / outcome. */
  kinds: Record<string, number>;
  kindMs: Record<string, number>;
  outcomes: Record<string, number>;
  findings: Finding[];
  /** The slowest cases (ms, description). */
  slowest: { ms: number; case: string }[];
}

/** Options of a run. */
export interface FuzzRunOptions {
  /** Base URL of the listener under fuzz. */
  url: string;
  seed: number;
  /** Number of cases, starting at case `first` (default 0). */
  cases: number;
  first?: number;
  pools: FuzzPools;
  concurrency?: number;
  /** Only cases whose kind (as in FuzzReport.kinds, e.g. "raw", "rpc grpc", "http h2") starts with one of these. */
  only?: readonly string[];
  /** Called about every `every` cases with the number done. */
  onProgress?: (done: number) => void;
  every?: number;
}

const HEADERS_DEADLINE_MS = 15_000;
const BODY_DEADLINE_MS = 15_000;
/** A streaming answer still open this long after its headers is a live stream (WatchEvents): fine, and cut. */
const STREAM_GRACE_MS = 1_000;
/** Procedures that stream events for as long as the caller listens (headers may wait for the first event), and how long one is kept open. */
const LIVE_STREAMS = new Set(["/slowdrip.v1.StreamService/WatchEvents"]);
const LIVE_MS = 200;
const MAX_BODY = 2 * 1024 * 1024;

/** RPC codes that mean the server failed, not the caller. */
const SERVER_FAULTS = new Set<number>([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);

type Answer = { status: number; headers: Record<string, unknown>; body: Buffer; open: boolean };

class Transport extends Error {}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP/1.1 exchange. Resolves with the answer; `open` when a stream was still flowing at the grace deadline. */
function h1Exchange(url: URL, method: string, path: string, headers: Record<string, string>, body: Uint8Array | undefined, streaming: boolean, liveMs = 0): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (f: () => void) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        clearTimeout(live);
        f();
      }
    };
    const timer = setTimeout(() => finish(() => { req.destroy(); reject(new Error(`no answer within ${HEADERS_DEADLINE_MS} ms`)); }), HEADERS_DEADLINE_MS);
    // A live stream (WatchEvents) may send nothing until its first event: after liveMs it counts as open and is cut.
    const live = liveMs > 0 ? setTimeout(() => finish(() => { req.destroy(); resolve({ status: 0, headers: {}, body: Buffer.alloc(0), open: true }); }), liveMs) : undefined;
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers, agent }, (res) => {
      clearTimeout(timer);
      const parts: Buffer[] = [];
      let size = 0;
      const bodyTimer = setTimeout(() => {
        if (streaming) finish(() => { res.destroy(); resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), open: true }); });
        else finish(() => { res.destroy(); reject(new Error(`answer body not complete within ${streaming ? STREAM_GRACE_MS : BODY_DEADLINE_MS} ms`)); });
      }, streaming ? STREAM_GRACE_MS : BODY_DEADLINE_MS);
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) parts.push(c);
      });
      res.on("end", () => finish(() => { clearTimeout(bodyTimer); resolve({ status: res.statusCode ?? 0, headers: { ...res.headers, ...res.trailers }, body: Buffer.concat(parts), open: false }); }));
      res.on("error", (e) => finish(() => { clearTimeout(bodyTimer); reject(new Transport(e.message)); }));
      res.on("close", () => finish(() => { clearTimeout(bodyTimer); reject(new Transport("answer cut off")); }));
    });
    req.on("error", (e: NodeJS.ErrnoException) => finish(() => reject(e.code === "ECONNREFUSED" ? e : new Transport(e.message))));
    req.end(body ? Buffer.from(body) : undefined);
  });
}

/** The shared HTTP/2 session (prior knowledge), reopened after it fails. */
class H2Client {
  #s: ClientHttp2Session | undefined;
  constructor(readonly url: string) {}
  session(): ClientHttp2Session {
    if (!this.#s || this.#s.closed || this.#s.destroyed) {
      const s = connectH2(this.url);
      s.on("error", () => {});
      s.on("goaway", () => s.destroy());
      this.#s = s;
    }
    return this.#s;
  }
  close(): void {
    this.#s?.close();
  }
}

function h2Exchange(client: H2Client, method: string, path: string, headers: Record<string, string>, body: Uint8Array | undefined, streaming: boolean, liveMs = 0): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let status = 0;
    let fields: Record<string, unknown> = {};
    const parts: Buffer[] = [];
    let size = 0;
    let st: ReturnType<ClientHttp2Session["request"]>;
    const finish = (f: () => void) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        f();
      }
    };
    const timer = setTimeout(() => finish(() => {
      if ((status && streaming) || liveMs > 0) resolve({ status, headers: fields, body: Buffer.concat(parts), open: true });
      else reject(new Error(status ? "answer body not complete in time" : `no answer within ${HEADERS_DEADLINE_MS} ms`));
      st?.close(H2.NGHTTP2_CANCEL);
    }), liveMs > 0 ? liveMs : HEADERS_DEADLINE_MS);
    try {
      st = client.session().request({ [H2.HTTP2_HEADER_METHOD]: method, [H2.HTTP2_HEADER_PATH]: path, ...headers });
    } catch (e) {
      finish(() => reject(new Transport((e as Error).message)));
      return;
    }
    st.on("response", (h) => {
      status = Number(h[H2.HTTP2_HEADER_STATUS]);
      fields = { ...h };
      if (streaming) {
        setTimeout(() => finish(() => { resolve({ status, headers: fields, body: Buffer.concat(parts), open: true }); st.close(H2.NGHTTP2_CANCEL); }), STREAM_GRACE_MS);
      }
    });
    st.on("trailers", (t) => (fields = { ...fields, ...t }));
    st.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) parts.push(c);
    });
    st.on("end", () => finish(() => resolve({ status, headers: fields, body: Buffer.concat(parts), open: false })));
    st.on("error", (e) => finish(() => reject(new Transport(e.message))));
    st.on("close", () => finish(() => (status ? resolve({ status, headers: fields, body: Buffer.concat(parts), open: false }) : reject(new Transport(`stream closed (${st.rstCode})`)))));
    st.end(body ? Buffer.from(body) : undefined);
  });
}

/** The RPC outcome code named by an answer, when it names one. */
function rpcCode(c: RpcCase, a: Answer): number | undefined {
  const fromHeaders = a.headers["grpc-status"];
  if (fromHeaders !== undefined) return Number(fromHeaders);
  const ct = String(a.headers["content-type"] ?? "");
  if (ct.startsWith("application/grpc-web")) {
    const t = frames(a.body).find((f) => (f.flags & 0x80) !== 0);
    const m = t && /grpc-status:\s*(\d+)/i.exec(Buffer.from(t.data).toString("latin1"));
    return m ? Number(m[1]) : undefined;
  }
  if (ct.startsWith("application/connect+")) {
    const end = frames(a.body).find((f) => (f.flags & 0x02) !== 0);
    if (!end) return undefined;
    try {
      const j = JSON.parse(Buffer.from(end.data).toString("utf8")) as { error?: { code?: string } };
      return j.error ? (connectCode(j.error.code) ?? Code.Unknown) : 0;
    } catch {
      return Code.Unknown;
    }
  }
  if (c.protocol.startsWith("connect") && a.status !== 200 && ct.startsWith("application/json")) {
    try {
      const j = JSON.parse(a.body.toString("utf8")) as { code?: string };
      return connectCode(j.code);
    } catch {
      return undefined;
    }
  }
  return a.status === 200 ? 0 : undefined;
}

/**
 * True for the pay gate's "the mint could not be asked about this token yet" (the mint timed out, or the same token is
 * being redeemed by a concurrent request): the one 5xx-class answer a client can cause on purpose, so that the payer
 * retries with the same token. Marked X-Reason: mint-unavailable (a header, a trailer, or Connect error metadata).
 */
function mintUnavailable(headers: Record<string, string>, a: Answer): boolean {
  if (headers["x-cashu"] === undefined) return false;
  return a.headers["x-reason"] === "mint-unavailable" || a.body.toString("latin1").includes("mint-unavailable");
}

/** Why an RPC answer breaks the rules, or undefined. */
function judgeRpc(c: RpcCase, a: Answer): string | undefined {
  const code = rpcCode(c, a);
  const allowed = (code === Code.DeadlineExceeded && c.deadline) || (code === Code.Unimplemented && c.compression) || (code === Code.Unavailable && mintUnavailable(c.headers, a));
  if (code !== undefined && SERVER_FAULTS.has(code) && !allowed) return `RPC code ${Code[code]} (HTTP ${a.status})`;
  if (a.status >= 500 && !allowed) return `HTTP ${a.status}${code !== undefined ? ` (${Code[code]})` : ""}`;
  return undefined;
}

async function runHttp(c: HttpCase, url: URL, h2: H2Client): Promise<string> {
  const a = c.h2 ? await h2Exchange(h2, c.method, c.path, c.headers, c.body, false) : await h1Exchange(url, c.method, c.path, c.headers, c.body, false);
  // Counted apart, never a finding (see mintUnavailable).
  if (a.status === 503 && mintUnavailable(c.headers, a)) return "503 mint-unavailable";
  if (a.status >= 500) throw new Finding5xx(`HTTP ${a.status}: ${a.body.toString("utf8").slice(0, 200)}`);
  return `${Math.floor(a.status / 100)}xx`;
}

class Finding5xx extends Error {}

async function runRpc(c: RpcCase, url: URL, h2: H2Client): Promise<string> {
  const ct = { connect: "application/proto", "connect-json": "application/json", "connect-get": "", "connect-stream": "application/connect+proto", grpc: "application/grpc+proto", "grpc-web": "application/grpc-web+proto" }[c.protocol];
  const headers: Record<string, string> = { ...(ct ? { "content-type": ct } : {}), ...(c.protocol.startsWith("connect") ? { "connect-protocol-version": "1" } : {}), ...c.headers };
  const live = LIVE_STREAMS.has(c.procedure) ? LIVE_MS : 0;
  let a: Answer;
  if (c.protocol === "connect-get") {
    const q = `?connect=v1&encoding=${headers["content-type"] === "application/json" ? "json" : "proto"}&base64=1&message=${Buffer.from(c.body).toString("base64url")}`;
    a = await h1Exchange(url, "GET", c.procedure + q, c.headers, undefined, false);
  } else if (c.protocol === "grpc") {
    a = await h2Exchange(h2, "POST", c.procedure, { te: "trailers", ...headers }, c.body, true, live);
  } else {
    a = await h1Exchange(url, "POST", c.procedure, headers, c.body, c.protocol !== "connect" && c.protocol !== "connect-json", live);
  }
  const problem = judgeRpc(c, a);
  if (problem) throw new Finding5xx(problem);
  if (a.open) return "stream-open";
  const code = rpcCode(c, a);
  return code === undefined ? `http-${a.status}` : (Code[code] ?? String(code));
}

function runRaw(c: RawCase, url: URL): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: url.hostname, port: Number(url.port) });
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    let idle: NodeJS.Timeout | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      clearTimeout(hard);
      s.destroy();
      const text = Buffer.concat(parts).toString("latin1");
      const bad = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1])).find((st) => st >= 500);
      if (bad !== undefined) reject(new Finding5xx(`HTTP ${bad} on a raw connection: ${JSON.stringify(text.slice(0, 300))}`));
      else resolve(c.close === "now" ? "closed" : size > 0 ? "answered" : "silent");
    };
    const hard = setTimeout(finish, 3_000);
    s.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ECONNREFUSED") {
        done = true;
        clearTimeout(hard);
        reject(e);
      } else finish();
    });
    s.on("data", (d: Buffer) => {
      size += d.length;
      if (size <= MAX_BODY) parts.push(d);
      clearTimeout(idle);
      idle = setTimeout(finish, 100);
    });
    s.on("close", finish);
    s.on("connect", () => {
      for (const ch of c.chunks) s.write(ch);
      if (c.close === "now") s.end(() => s.destroy());
      else idle = setTimeout(finish, 250);
    });
  });
}

/** Runs cases [first, first + cases) of `seed` against the target, `concurrency` at a time. */
export async function runFuzz(o: FuzzRunOptions): Promise<FuzzReport> {
  const url = new URL(o.url);
  const h2 = new H2Client(o.url);
  const first = o.first ?? 0;
  const report: FuzzReport = { seed: o.seed, first, cases: o.cases, ms: 0, kinds: {}, kindMs: {}, outcomes: {}, findings: [], slowest: [] };
  const count = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
  let next = first;
  let done = 0;
  const every = o.every ?? 10_000;
  const start = performance.now();
  const worker = async () => {
    for (let i = next++; i < first + o.cases; i = next++) {
      const c: FuzzCase = fuzzCase(o.seed, i, o.pools);
      const kind = c.kind === "rpc" ? `rpc ${c.protocol}` : c.kind === "raw" ? `raw ${c.what}` : `http${c.h2 ? " h2" : ""}`;
      if (o.only && o.only.length > 0 && !o.only.some((p) => kind.startsWith(p))) continue;
      count(report.kinds, kind);
      const t0 = performance.now();
      try {
        const outcome = c.kind === "http" ? await runHttp(c, url, h2) : c.kind === "rpc" ? await runRpc(c, url, h2) : await runRaw(c, url);
        count(report.outcomes, `${c.kind} ${outcome}`);
      } catch (e) {
        if (e instanceof Transport) count(report.outcomes, `${c.kind} transport-error`);
        else {
          report.findings.push({ index: i, problem: (e as Error).message, case: describeCase(c) });
          // The node is gone: the cases before this one (in flight on other workers) hold the culprit; stop here.
          if ((e as NodeJS.ErrnoException).code === "ECONNREFUSED") next = Number.MAX_SAFE_INTEGER;
        }
      }
      const took = performance.now() - t0;
      report.kindMs[kind] = (report.kindMs[kind] ?? 0) + took;
      if (report.slowest.length < 10 || took > report.slowest[report.slowest.length - 1]!.ms) {
        report.slowest.push({ ms: Math.round(took), case: describeCase(c).slice(0, 300) });
        report.slowest.sort((a, b) => b.ms - a.ms).splice(10);
      }
      if (++done % every === 0) o.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 24 }, worker));
  report.ms = performance.now() - start;
  h2.close();
  return report;
}
