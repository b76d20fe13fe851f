// Client-side TLS trust for the CLI: a CA file (--ca / SLOWDRIP_CA) and a SHA-256 certificate pin (--fingerprint /
// SLOWDRIP_FINGERPRINT), as an https.Agent for Connect transports and a fetch for plain HTTP reads.
import { readFileSync } from "node:fs";
import { Agent, request, type AgentOptions } from "node:https";
import { request as httpRequest } from "node:http";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import { connect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { CliError } from "./command.ts";

/** How the CLI decides to trust a node's certificate; empty: the system's roots. */
export interface TlsTrust {
  /** PEM certificates to trust instead of the system roots (the node's self-signed cert, or its CA). */
  ca?: Buffer;
  /** SHA-256 of the node's certificate, 64 lowercase hex: trusted whatever signed it and whatever name it carries. */
  fingerprint?: string;
}

/** A refused certificate pin. */
export class FingerprintMismatchError extends Error {
  readonly code = "ERR_SLOWDRIP_FINGERPRINT";
  constructor(expected: string, got: string | undefined) {
    super(`the node's certificate has SHA-256 fingerprint ${got ?? "(none)"}, not the pinned ${expected}`);
    this.name = "FingerprintMismatchError";
  }
}

/** Normalises a fingerprint as printed by `openssl x509 -fingerprint -sha256` (colons, any case, optional "sha256:"). */
export function parseFingerprint(text: string): string {
  const hex = text.trim().replace(/^sha256(\s+fingerprint)?\s*[:=]\s*/i, "").replace(/[:\s]/g, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new CliError(`--fingerprint must be a SHA-256 fingerprint (64 hex digits, colons allowed), got "${text}"`, 2);
  return hex;
}

/** The trust settings from `--ca` / `--fingerprint`, else `$SLOWDRIP_CA` / `$SLOWDRIP_FINGERPRINT`. */
export function tlsTrust(values: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd: string): TlsTrust {
  const trust: TlsTrust = {};
  const caFile = (values.ca as string | undefined) || env.SLOWDRIP_CA;
  if (caFile) {
    try {
      trust.ca = readFileSync(resolve(cwd, caFile));
    } catch (err) {
      throw new CliError(`--ca: cannot read ${caFile}: ${(err as Error).message}`, 2);
    }
    if (!trust.ca.includes("-----BEGIN CERTIFICATE-----")) throw new CliError(`--ca: ${caFile} holds no PEM certificate`, 2);
  }
  const pin = (values.fingerprint as string | undefined) || env.SLOWDRIP_FINGERPRINT;
  if (pin) trust.fingerprint = parseFingerprint(pin);
  return trust;
}

/** The certificate's SHA-256 as 64 lowercase hex. */
function fingerprintOf(socket: TLSSocket): string | undefined {
  return socket.getPeerCertificate()?.fingerprint256?.replace(/:/g, "").toLowerCase();
}

/**
 * An https.Agent honouring the trust settings, or undefined for the system roots. With a pin, the chain and the name
 * are not checked, the certificate's fingerprint is: a mismatch destroys the socket as the handshake completes,
 * before a single request byte (or the admin token) is written.
 */
export function httpsAgent(trust: TlsTrust): Agent | undefined {
  if (!trust.ca && !trust.fingerprint) return undefined;
  const options: AgentOptions = { keepAlive: true, ...(trust.ca ? { ca: trust.ca } : {}) };
  if (trust.fingerprint === undefined) return new Agent(options);
  const pin: string = trust.fingerprint;
  class PinnedAgent extends Agent {
    override createConnection(opts: ConnectionOptions, cb?: unknown): TLSSocket {
      void cb;
      const socket = connect({ ...opts, ...(trust.ca ? {} : { rejectUnauthorized: false }), checkServerIdentity: () => undefined });
      socket.once("secureConnect", () => {
        const got = fingerprintOf(socket);
        if (got !== pin) socket.destroy(new FingerprintMismatchError(pin, got));
      });
      return socket;
    }
  }
  return new PinnedAgent(options);
}

/** A fetch for GETs that uses the trust settings for https:// URLs (what `stream verify` reads with). */
export function trustedFetch(trust: TlsTrust): typeof fetch {
  const agent = httpsAgent(trust);
  if (!agent) return fetch;
  return ((input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    return new Promise<Response>((resolveResponse, reject) => {
      const send = url.protocol === "https:" ? request : httpRequest;
      const req = send(url, { method: init?.method ?? "GET", ...(url.protocol === "https:" ? { agent } : {}), headers: Object.fromEntries(new Headers(init?.headers).entries()), ...(init?.signal ? { signal: init.signal } : {}) }, (res) => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
        const status = res.statusCode ?? 0;
        const body = status === 204 || status === 304 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        resolveResponse(new Response(body, { status, headers }));
      });
      req.on("error", reject);
      req.end();
    });
  }) as typeof fetch;
}
