// Client side of the CLI: finds the node's URL (the admin listener by default) and admin token and builds a Connect
// transport, over https when the node has a certificate, trusting it per --ca / --fingerprint.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { splitHostPort } from "../config/fields.ts";
import { loadFromFlags } from "../config/flags.ts";
import { ADMIN_TOKEN_FILE } from "../identity/identity.ts";
import { isLoopbackHost } from "../config/fields.ts";
import { CliError, type CliIO } from "./command.ts";
import { httpsAgent, tlsTrust, type TlsTrust } from "./tls.ts";

/** parseArgs options of client commands (plus the config flags, which locate data_dir and api.admin_listen). */
export const clientFlagOptions = {
  url: { type: "string" },
  token: { type: "string" },
  ca: { type: "string" },
  fingerprint: { type: "string" },
} as const;

export const clientFlagUsage = [
  "  --url URL            node to talk to, http:// or https:// (default: env SLOWDRIP_URL, else the admin listener",
  "                       http(s)://<api.admin_listen>, https when api.admin_tls_cert is set)",
  "  --token TOKEN        admin token (default: env SLOWDRIP_TOKEN, else <data_dir>/admin.token if readable); never",
  "                       sent in cleartext to a host other than loopback",
  "  --ca FILE            trust the PEM certificate(s) in FILE for https (default: env SLOWDRIP_CA, else the system roots)",
  "  --fingerprint SHA256 trust exactly the certificate with this SHA-256 fingerprint (default: env SLOWDRIP_FINGERPRINT)",
].join("\n");

/** A connected client: transport plus the headers control calls need. */
export interface NodeClient {
  url: string;
  transport: Transport;
  /** Call options carrying the admin token, when one was found. */
  callOptions: { headers?: Record<string, string> };
  /** How https certificates are trusted. */
  trust: TlsTrust;
}

const TLS_FAILURE = /certificate|self.signed|unable to verify|fingerprint|altnames|ERR_TLS|SSL/i;

/** True for a failure that means "no usable connection": unavailable, or a refused TLS certificate. */
export function isUnreachable(code: number, reason: string): boolean {
  return code === Code.Unavailable || TLS_FAILURE.test(reason);
}

/** The one-line error for a node that cannot be reached, with the way out when it is a certificate problem. */
export function unreachable(c: NodeClient, reason: string): CliError {
  const hint = TLS_FAILURE.test(reason) && !c.trust.fingerprint ? "; trust the node's certificate with --ca FILE or --fingerprint SHA256" : "";
  return new CliError(`cannot reach the node at ${c.url} (${reason})${hint}`);
}

/** Rethrows an RPC failure as the CLI's one-line error (unreachable nodes with their hint); anything else as is. */
export function rpcFailure(err: unknown, c: NodeClient): never {
  if (err instanceof ConnectError) {
    if (isUnreachable(err.code, err.rawMessage)) throw unreachable(c, err.rawMessage);
    throw new CliError(`${Code[err.code] ?? err.code}: ${err.rawMessage}`);
  }
  throw err;
}

/** The URL a client on this machine reaches a listen address at ("0.0.0.0:8081" -> "http://127.0.0.1:8081"). */
export function localUrl(listen: string, scheme: "http" | "https" = "http"): string {
  const { host, port } = splitHostPort(listen);
  const h = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host.includes(":") ? `[${host}]` : host;
  return `${scheme}://${h}:${port}`;
}

/** Resolves the node URL (the admin listener unless told otherwise) and admin token from flags, env and config. */
export function nodeClient(values: Record<string, unknown>, io: CliIO): NodeClient {
  const loaded = loadFromFlags(values, io.env, io.cwd);
  const url = (values.url as string | undefined) || io.env.SLOWDRIP_URL || localUrl(loaded.config["api.admin_listen"], loaded.config["api.admin_tls_cert"] ? "https" : "http");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`--url: "${url}" is not a URL`, 2);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new CliError(`--url: "${url}" is not an http:// or https:// URL`, 2);
  const trust = tlsTrust(values, io.env, io.cwd);
  let token = (values.token as string | undefined) ?? io.env.SLOWDRIP_TOKEN;
  if (!token) {
    try {
      token = readFileSync(join(resolve(io.cwd, loaded.config["node.data_dir"]), ADMIN_TOKEN_FILE), "utf8").trim();
    } catch {
      token = undefined;
    }
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  if (token && parsed.protocol === "http:" && !isLoopbackHost(host)) {
    io.stderr.write(`slowdrip: not sending the admin token in cleartext to ${parsed.host}: use https:// (api.admin_tls_cert) or an SSH tunnel\n`);
    token = undefined;
  }
  const agent = parsed.protocol === "https:" ? httpsAgent(trust) : undefined;
  const transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1", ...(agent ? { nodeOptions: { agent } } : {}) });
  return { url, transport, callOptions: token ? { headers: { authorization: `Bearer ${token}` } } : {}, trust };
}
