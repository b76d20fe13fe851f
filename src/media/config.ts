// Renders mediamtx.yml from configs/mediamtx.yml.tmpl and a typed options object (loopback API, auth hook, listeners, segments).
import { readFileSync } from "node:fs";
import { ICE_SERVER } from "../config/schema.ts";
import { MEDIAMTX_TEMPLATE } from "./template.ts";

/** A listener that is either off (null) or bound to "host:port". */
export type ListenAddress = string | null;

/** How MediaMTX checks publish/read requests. */
export type MediaAuth =
  /** Ask the node's loopback hook for every request (`authMethod: http`). */
  | { mode: "http"; hookUrl: string }
  /** Let MediaMTX verify EdDSA JWTs itself against a JWKS URL (`authMethod: jwt`). */
  | { mode: "jwks"; jwksUrl: string; issuer?: string };

/** Everything the template needs; build it from the node config. */
export interface MediaMtxOptions {
  /** Control API address; must be loopback. */
  apiAddress: string;
  /** Prometheus metrics address; must be loopback. */
  metricsAddress: string;
  auth: MediaAuth;
  rtmp: ListenAddress;
  rtsp: ListenAddress;
  /** RTSP transports; "udp" also needs rtpAddress/rtcpAddress. Default ["tcp"]. */
  rtspTransports?: ("tcp" | "udp")[];
  rtpAddress?: string;
  rtcpAddress?: string;
  hls: ListenAddress;
  /** Variant of MediaMTX's own HLS server (not the node's origin). Default "mpegts". */
  hlsVariant?: "mpegts" | "fmp4" | "lowLatency";
  /** WHIP/WHEP HTTP listener. */
  webrtc: ListenAddress;
  /** WebRTC ICE UDP listener (":8189" style); empty disables it. */
  webrtcUdpAddress?: string;
  /** Public IPs or host names advertised as ICE candidates (NAT). Default none. */
  webrtcAdditionalHosts?: string[];
  /** STUN/TURN servers MediaMTX uses and hands to browsers. Default none. */
  webrtcIceServers?: IceServer[];
  srt: ListenAddress;
  /** Directory where finished MPEG-TS segments land before the node ingests them. */
  recordDir: string;
  /** Target segment duration in seconds (segments are cut at the next key frame after it). */
  segmentSeconds: number;
  /** Loopback URL the segment-complete command posts to. */
  segmentHookUrl: string;
  /**
   * Absolute path where SEGMENT_HOOK_SCRIPT is written (the node writes it beside mediamtx.yml): MediaMTX then runs it
   * with bash instead of curl (a few ms less per segment). Without it, or for an https hook URL, the hook is curl.
   */
  segmentHookScript?: string;
  /** Safety-net deletion of segment files the node did not ingest, in seconds. Default 3600. */
  recordDeleteAfterSeconds?: number;
  logLevel?: "error" | "warn" | "info" | "debug";
  readTimeoutSeconds?: number;
  writeTimeoutSeconds?: number;
}

/** A STUN/TURN server for WebRTC. */
export interface IceServer {
  /** stun:, turn: or turns: URL. */
  url: string;
  username?: string;
  password?: string;
}

/** Parses a `mediamtx.webrtc_ice_servers` item: URL or USER:PASSWORD@URL. */
export function parseIceServer(item: string): IceServer {
  const m = ICE_SERVER.exec(item);
  if (!m) throw new MediaConfigError("webrtcIceServers", `'${item.slice(0, 80)}' is not [USER:PASSWORD@](stun|turn|turns):HOST[:PORT]`);
  return m[1] !== undefined ? { url: m[3]!, username: m[1], password: m[2]! } : { url: m[3]! };
}

/** A rendering problem, naming the offending option. */
export class MediaConfigError extends Error {
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options);
    this.name = "MediaConfigError";
    this.field = field;
  }
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost):\d{1,5}$/;
const HOSTPORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/;

function checkAddr(field: string, v: string, loopback = false): string {
  if (typeof v !== "string" || !(loopback ? LOOPBACK : HOSTPORT).test(v)) {
    throw new MediaConfigError(field, `'${String(v)}' is not a ${loopback ? "loopback host:port" : "[host]:port"} address`);
  }
  const port = Number(v.slice(v.lastIndexOf(":") + 1));
  if (port < 1 || port > 65_535) throw new MediaConfigError(field, `port ${port} is out of range 1-65535`);
  return v;
}

function checkHttpUrl(field: string, v: string, loopback: boolean): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch (e) {
    throw new MediaConfigError(field, `'${v}' is not a URL`, { cause: e });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new MediaConfigError(field, `'${v}' is not an http(s) URL`);
  if (loopback && !/^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(u.hostname)) {
    throw new MediaConfigError(field, `'${v}' must point at a loopback address`);
  }
  return v;
}

/** A YAML scalar for a string: double-quoted JSON is valid YAML. */
const q = (s: string): string => JSON.stringify(s);
const yn = (b: boolean): string => (b ? "true" : "false");
const secs = (n: number): string => `${Math.round(n * 1000)}ms`;

/**
 * The segment hook run by bash: posts MediaMTX's MTX_* variables as a form to the URL in $1 over /dev/tcp. A file (not
 * `bash -c`), because MediaMTX expands every `$` in the command itself.
 */
export const SEGMENT_HOOK_SCRIPT: string = `${[
  "# SlowDrip segment hook, written by the node beside mediamtx.yml (do not edit). MediaMTX runs `bash <this file> <url>`",
  "# when a segment file is complete; it posts MediaMTX's MTX_PATH, MTX_SEGMENT_PATH and MTX_SEGMENT_DURATION as a form",
  "# to the node's loopback hook <url> over bash's /dev/tcp, which starts in a fraction of curl's time. Exits non-zero",
  "# unless the node answers 200 within 5 s.",
  "LC_ALL=C",
  "enc() {",
  "  local s=$1 c i",
  "  out=",
  "  for ((i = 0; i < ${#s}; i++)); do",
  "    c=${s:i:1}",
  "    case $c in",
  "      [A-Za-z0-9._~/-]) out+=$c ;;",
  "      *) printf -v c '%%%02X' \"'$c\"; out+=$c ;;",
  "    esac",
  "  done",
  "}",
  "rest=${1#http://}",
  "hostport=${rest%%/*}",
  "target=/${rest#*/}",
  "[ \"$rest\" = \"$hostport\" ] && target=/",
  "port=${hostport##*:}",
  "host=${hostport%:*}",
  "host=${host#[}",
  "host=${host%]}",
  "enc \"${MTX_PATH-}\"; body=\"path=$out\"",
  "enc \"${MTX_SEGMENT_PATH-}\"; body+=\"&segment=$out\"",
  "enc \"${MTX_SEGMENT_DURATION-}\"; body+=\"&duration=$out\"",
  "exec 3<>\"/dev/tcp/$host/$port\" || exit 7",
  "printf 'POST %s HTTP/1.1\\r\\nHost: %s\\r\\nContent-Type: application/x-www-form-urlencoded\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s' \"$target\" \"$hostport\" \"${#body}\" \"$body\" >&3",
  "read -r -t 5 _ code _ <&3 || { echo \"segment hook: no answer from $1\" >&2; exit 28; }",
  "[ \"$code\" = 200 ] || { echo \"segment hook: $1 answered $code\" >&2; exit 22; }",
].join("\n")}\n`;

/**
 * The shell-free command MediaMTX runs when a segment file is complete (variables are expanded after splitting):
 * `bash <script> <url>` when `script` names the written SEGMENT_HOOK_SCRIPT and the URL is http, else curl.
 */
export function segmentHookCommand(url: string, script?: string): string {
  checkHttpUrl("segmentHookUrl", url, true);
  if (script !== undefined) {
    if (!script.startsWith("/") || /['"$\\\n\r]/.test(script)) {
      throw new MediaConfigError("segmentHookScript", `'${script}' must be an absolute path without quotes, '$', backslashes or newlines`);
    }
    if (url.startsWith("http://")) return `bash '${script}' '${url.replace(/'/g, "")}'`;
  }
  return [
    "curl -fsS -m 5 -o /dev/null",
    "--data-urlencode path=$MTX_PATH",
    "--data-urlencode segment=$MTX_SEGMENT_PATH",
    "--data-urlencode duration=$MTX_SEGMENT_DURATION",
    `'${url.replace(/'/g, "")}'`,
  ].join(" ");
}

/** The template text: the embedded copy of configs/mediamtx.yml.tmpl, or the file at `path`. */
export function loadTemplate(path?: string): string {
  return path === undefined ? MEDIAMTX_TEMPLATE : readFileSync(path, "utf8");
}

/** The placeholder values for `opts`, each already a YAML scalar. Throws MediaConfigError naming the bad field. */
export function templateValues(opts: MediaMtxOptions): Record<string, string> {
  if (!opts || typeof opts !== "object") throw new TypeError("options must be an object");
  const segs = opts.segmentSeconds;
  if (typeof segs !== "number" || !Number.isFinite(segs) || segs < 0.5 || segs > 60) {
    throw new MediaConfigError("segmentSeconds", `${String(segs)} is out of range 0.5-60`);
  }
  const del = opts.recordDeleteAfterSeconds ?? 3600;
  if (!Number.isFinite(del) || del < segs || del > 30 * 86_400) {
    throw new MediaConfigError("recordDeleteAfterSeconds", `${del} is out of range segmentSeconds-2592000`);
  }
  if (typeof opts.recordDir !== "string" || !opts.recordDir.startsWith("/") || /[\n\r%]/.test(opts.recordDir)) {
    throw new MediaConfigError("recordDir", `'${String(opts.recordDir)}' must be an absolute path without '%' or newlines`);
  }
  const transports = opts.rtspTransports ?? ["tcp"];
  if (transports.length === 0 || transports.some((t) => t !== "tcp" && t !== "udp")) {
    throw new MediaConfigError("rtspTransports", `${JSON.stringify(transports)} must be a non-empty list of tcp/udp`);
  }
  const rt = opts.readTimeoutSeconds ?? 10;
  const wt = opts.writeTimeoutSeconds ?? 10;
  for (const [f, v] of [["readTimeoutSeconds", rt], ["writeTimeoutSeconds", wt]] as const) {
    if (!Number.isFinite(v) || v < 1 || v > 300) throw new MediaConfigError(f, `${v} is out of range 1-300`);
  }
  const listener = (field: string, v: ListenAddress, fallback: string): [string, string] =>
    v === null ? [yn(false), q(fallback)] : [yn(true), q(checkAddr(field, v))];

  let authMethod: string;
  let authHTTPAddress = q("");
  let authJWTJWKS = q("");
  let authJWTIssuer = q("");
  if (opts.auth?.mode === "http") {
    authMethod = "http";
    authHTTPAddress = q(checkHttpUrl("auth.hookUrl", opts.auth.hookUrl, true));
  } else if (opts.auth?.mode === "jwks") {
    authMethod = "jwt";
    authJWTJWKS = q(checkHttpUrl("auth.jwksUrl", opts.auth.jwksUrl, false));
    authJWTIssuer = q(opts.auth.issuer ?? "");
  } else {
    throw new MediaConfigError("auth.mode", `must be "http" or "jwks"`);
  }

  const [rtmp, rtmpAddress] = listener("rtmp", opts.rtmp, ":1935");
  const [rtsp, rtspAddress] = listener("rtsp", opts.rtsp, ":8554");
  const [hls, hlsAddress] = listener("hls", opts.hls, ":8888");
  const [webrtc, webrtcAddress] = listener("webrtc", opts.webrtc, ":8889");
  const [srt, srtAddress] = listener("srt", opts.srt, ":8890");
  const udpIce = opts.webrtcUdpAddress ?? ":8189";
  if (udpIce !== "") checkAddr("webrtcUdpAddress", udpIce);
  else if (opts.webrtc !== null) throw new MediaConfigError("webrtcUdpAddress", "WebRTC needs an ICE UDP listener address");
  const hosts = opts.webrtcAdditionalHosts ?? [];
  for (const h of hosts) {
    if (typeof h !== "string" || !/^[A-Za-z0-9.:-]{1,253}$/.test(h)) throw new MediaConfigError("webrtcAdditionalHosts", `'${String(h).slice(0, 80)}' is not an IP address or host name`);
  }
  const ice = (opts.webrtcIceServers ?? []).map((s) => {
    const checked = parseIceServer(s.username !== undefined ? `${s.username}:${s.password ?? ""}@${s.url}` : s.url);
    return { url: checked.url, username: checked.username ?? "", password: checked.password ?? "", clientOnly: false };
  });
  const hlsVariant = opts.hlsVariant ?? "mpegts";
  if (!["mpegts", "fmp4", "lowLatency"].includes(hlsVariant)) throw new MediaConfigError("hlsVariant", `'${hlsVariant}' is not mpegts, fmp4 or lowLatency`);
  const logLevel = opts.logLevel ?? "info";
  if (!["error", "warn", "info", "debug"].includes(logLevel)) throw new MediaConfigError("logLevel", `'${logLevel}' is not error, warn, info or debug`);

  return {
    logLevel,
    readTimeout: secs(rt),
    writeTimeout: secs(wt),
    authMethod,
    authHTTPAddress,
    authJWTJWKS,
    authJWTIssuer,
    apiAddress: q(checkAddr("apiAddress", opts.apiAddress, true)),
    metricsAddress: q(checkAddr("metricsAddress", opts.metricsAddress, true)),
    rtsp,
    rtspTransports: `[${transports.join(", ")}]`,
    rtspAddress,
    rtpAddress: q(checkAddr("rtpAddress", opts.rtpAddress ?? ":8000")),
    rtcpAddress: q(checkAddr("rtcpAddress", opts.rtcpAddress ?? ":8001")),
    rtmp,
    rtmpAddress,
    hls,
    hlsAddress,
    hlsVariant,
    webrtc,
    webrtcAddress,
    webrtcLocalUDPAddress: q(udpIce),
    webrtcAdditionalHosts: JSON.stringify(hosts),
    webrtcICEServers: JSON.stringify(ice),
    srt,
    srtAddress,
    segmentDuration: secs(segs),
    recordPath: q(`${opts.recordDir.replace(/\/+$/, "")}/%path/%Y-%m-%d_%H-%M-%S-%f`),
    recordDeleteAfter: `${Math.round(del)}s`,
    segmentHookCommand: q(segmentHookCommand(opts.segmentHookUrl, opts.segmentHookScript)),
  };
}

/**
 * Renders `template` with `opts`. Every `{{name}}` must have a value and every value must be used, so the template
 * and this module cannot drift apart silently.
 */
export function renderMediamtxConfig(template: string, opts: MediaMtxOptions): string {
  if (typeof template !== "string") throw new TypeError("template must be a string");
  const values = templateValues(opts);
  const used = new Set<string>();
  const out = template.replace(/\{\{([A-Za-z0-9_]+)\}\}/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new MediaConfigError("template", `unknown placeholder {{${name}}}`);
    used.add(name);
    return v;
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new MediaConfigError("template", `placeholders missing from the template: ${unused.join(", ")}`);
  return out;
}
