// mediamtx.yml rendering: the template and the options stay in step; every bad option is named.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTemplate, MediaConfigError, parseIceServer, renderMediamtxConfig, SEGMENT_HOOK_SCRIPT, segmentHookCommand, type MediaMtxOptions } from "./config.ts";
import { parseSegmentHook } from "./segments.ts";

const base: MediaMtxOptions = {
  apiAddress: "127.0.0.1:9997",
  metricsAddress: "127.0.0.1:9998",
  auth: { mode: "http", hookUrl: "http://127.0.0.1:8080/hooks/mediamtx/auth" },
  rtmp: ":1935",
  rtsp: ":8554",
  hls: null,
  webrtc: ":8889",
  webrtcUdpAddress: ":8189",
  srt: null,
  recordDir: "/var/lib/mediamtx-slowdrip/segments",
  segmentSeconds: 2,
  segmentHookUrl: "http://127.0.0.1:8080/hooks/mediamtx/segment",
};

describe("renderMediamtxConfig", () => {
  it("renders loopback API/metrics, HTTP auth, listeners and MPEG-TS recording with the segment hook", () => {
    const y = parse(renderMediamtxConfig(loadTemplate(), base));
    expect(y).toMatchObject({
      api: true, apiAddress: "127.0.0.1:9997", metrics: true, metricsAddress: "127.0.0.1:9998",
      authMethod: "http", authHTTPAddress: "http://127.0.0.1:8080/hooks/mediamtx/auth",
      rtmp: true, rtmpAddress: ":1935", rtsp: true, rtspTransports: ["tcp"], hls: false, webrtc: true, srt: false, moq: false,
    });
    expect(y.authHTTPExclude).toEqual([{ action: "api" }, { action: "metrics" }, { action: "pprof" }]);
    expect(y.pathDefaults).toMatchObject({
      record: true, recordFormat: "mpegts", recordSegmentDuration: "2000ms",
      recordPath: "/var/lib/mediamtx-slowdrip/segments/%path/%Y-%m-%d_%H-%M-%S-%f",
    });
    expect(y.pathDefaults.runOnRecordSegmentComplete).toBe(segmentHookCommand(base.segmentHookUrl));
    expect(y.pathDefaults.runOnRecordSegmentComplete).toMatch(/^curl .*--data-urlencode segment=\$MTX_SEGMENT_PATH .*'http:\/\/127\.0\.0\.1:8080\/hooks\/mediamtx\/segment'$/);
  });

  it("renders no extra WebRTC hosts or ICE servers by default, and trusts only the node's loopback proxy", () => {
    const y = parse(renderMediamtxConfig(loadTemplate(), base));
    expect(y.webrtcAdditionalHosts).toEqual([]);
    expect(y.webrtcICEServers2).toEqual([]);
    expect(y.webrtcTrustedProxies).toEqual(["127.0.0.1/32", "::1/128"]);
  });

  it("renders webrtc_additional_hosts and webrtc_ice_servers (STUN, and TURN with credentials) for edges behind NAT", () => {
    const ice = ["stun:stun.example.com:3478", "alice:s3cr\"et@turn:turn.example.com:3478?transport=udp", "bob:pw@turns:[2001:db8::1]:5349"].map(parseIceServer);
    const y = parse(renderMediamtxConfig(loadTemplate(), { ...base, webrtcAdditionalHosts: ["203.0.113.7", "edge.example.net"], webrtcIceServers: ice }));
    expect(y.webrtcAdditionalHosts).toEqual(["203.0.113.7", "edge.example.net"]);
    expect(y.webrtcICEServers2).toEqual([
      { url: "stun:stun.example.com:3478", username: "", password: "", clientOnly: false },
      { url: "turn:turn.example.com:3478?transport=udp", username: "alice", password: 's3cr"et', clientOnly: false },
      { url: "turns:[2001:db8::1]:5349", username: "bob", password: "pw", clientOnly: false },
    ]);
  });

  it("refuses malformed WebRTC hosts and ICE servers, naming the option", () => {
    expect(() => parseIceServer("http://stun.example.com")).toThrow(/webrtcIceServers/);
    expect(() => parseIceServer("stun:bad host")).toThrow(MediaConfigError);
    for (const bad of [["host name with space"], ["a\nb"], ['x"; rm']]) {
      expect(() => renderMediamtxConfig(loadTemplate(), { ...base, webrtcAdditionalHosts: bad })).toThrow(/webrtcAdditionalHosts/);
    }
    expect(() => renderMediamtxConfig(loadTemplate(), { ...base, webrtcIceServers: [{ url: "ftp://x" }] })).toThrow(/webrtcIceServers/);
  });

  it("renders JWKS mode", () => {
    const y = parse(renderMediamtxConfig(loadTemplate(), { ...base, auth: { mode: "jwks", jwksUrl: "https://auth.example/jwks.json", issuer: "me" } }));
    expect(y).toMatchObject({ authMethod: "jwt", authJWTJWKS: "https://auth.example/jwks.json", authJWTIssuer: "me", authJWTClaimKey: "mediamtx_permissions" });
  });

  it("names the offending option", () => {
    const cases: [string, Partial<MediaMtxOptions>, string][] = [
      ["public API", { apiAddress: "0.0.0.0:9997" }, "apiAddress"],
      ["public metrics", { metricsAddress: ":9998" }, "metricsAddress"],
      ["hook off loopback", { auth: { mode: "http", hookUrl: "http://10.0.0.1/hook" } }, "auth.hookUrl"],
      ["jwks not a URL", { auth: { mode: "jwks", jwksUrl: "nope" } }, "auth.jwksUrl"],
      ["bad listener", { rtmp: "1935" }, "rtmp"],
      ["port out of range", { rtsp: ":70000" }, "rtsp"],
      ["relative record dir", { recordDir: "segments" }, "recordDir"],
      ["percent in record dir", { recordDir: "/a%b" }, "recordDir"],
      ["segment too short", { segmentSeconds: 0.1 }, "segmentSeconds"],
      ["webrtc without ICE", { webrtcUdpAddress: "" }, "webrtcUdpAddress"],
      ["segment hook off loopback", { segmentHookUrl: "http://example.com/x" }, "segmentHookUrl"],
    ];
    for (const [name, o, field] of cases) {
      let err: unknown;
      try {
        renderMediamtxConfig(loadTemplate(), { ...base, ...o });
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(MediaConfigError);
      expect((err as MediaConfigError).field, name).toBe(field);
    }
  });

  it("embeds exactly configs/mediamtx.yml.tmpl (regenerate with: node scripts/mediamtx-template.mjs)", () => {
    expect(loadTemplate()).toBe(readFileSync(join(import.meta.dirname, "../../configs/mediamtx.yml.tmpl"), "utf8"));
  });

  it("refuses templates with unknown or missing placeholders", () => {
    expect(() => renderMediamtxConfig(`${loadTemplate()}\nx: {{nope}}\n`, base)).toThrow(/unknown placeholder \{\{nope\}\}/);
    expect(() => renderMediamtxConfig(loadTemplate().replace("{{srtAddress}}", '":8890"'), base)).toThrow(/missing from the template: srtAddress/);
  });
});

/** Splits a command into words the way MediaMTX does for these commands (plain words and single-quoted ones). */
const shellQuoteSplit = (c: string): string[] => [...c.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);

describe("the bash segment hook", () => {
  it("is rendered when the script path is given (curl otherwise, and for https)", () => {
    const y = parse(renderMediamtxConfig(loadTemplate(), { ...base, segmentHookScript: "/var/lib/slowdrip/mediamtx-segment-hook.sh" }));
    expect(y.pathDefaults.runOnRecordSegmentComplete).toBe("bash '/var/lib/slowdrip/mediamtx-segment-hook.sh' 'http://127.0.0.1:8080/hooks/mediamtx/segment'");
    expect(segmentHookCommand("https://127.0.0.1:8443/x", "/a/hook.sh")).toMatch(/^curl /);
    expect(() => segmentHookCommand(base.segmentHookUrl, "/a/$HOME/hook.sh")).toThrow(MediaConfigError);
    expect(() => segmentHookCommand(base.segmentHookUrl, "relative.sh")).toThrow(MediaConfigError);
  });

  it("posts MediaMTX's variables as a form the node parses (any bytes), and fails unless the node answers 200", async () => {
    const dir = mkdtempSync(join(tmpdir(), "slowdrip-hook-"));
    const script = join(dir, "hook.sh");
    writeFileSync(script, SEGMENT_HOOK_SCRIPT, { mode: 0o640 });
    const got: { url: string; type: string; body: string }[] = [];
    const server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (c: Buffer) => parts.push(c)).on("end", () => {
        got.push({ url: req.url ?? "", type: req.headers["content-type"] ?? "", body: Buffer.concat(parts).toString("latin1") });
        res.statusCode = req.url === "/refuse" ? 409 : 200;
        res.end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const run = (url: string) =>
      new Promise<{ code: number; stderr: string }>((resolve) => {
        // The command MediaMTX would run, split the way it splits it.
        const [cmd, ...args] = shellQuoteSplit(segmentHookCommand(url, script));
        const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", MTX_PATH: "live/a b&c+é", MTX_SEGMENT_PATH: "/rec/x y/live/2026-12-02_13-00-00-000001.ts", MTX_SEGMENT_DURATION: "1.000000" };
        execFile(cmd!, args, { env }, (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stderr }));
      });
    try {
      expect(await run(`http://127.0.0.1:${port}/hooks/mediamtx/segment`)).toEqual({ code: 0, stderr: "" });
      expect(got[0]).toMatchObject({ url: "/hooks/mediamtx/segment", type: "application/x-www-form-urlencoded" });
      expect(parseSegmentHook(got[0]!.body)).toEqual({ path: "live/a b&c+é", file: "/rec/x y/live/2026-12-02_13-00-00-000001.ts", durationMs: 1000 });
      const refused = await run(`http://127.0.0.1:${port}/refuse`);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/answered 409/);
      await new Promise<void>((r) => server.close(() => r()));
      expect((await run(`http://127.0.0.1:${port}/hooks/mediamtx/segment`)).code).not.toBe(0);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
