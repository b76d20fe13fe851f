// Client side of the CLI: finds the node's URL and admin token and builds a Connect transport.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { splitHostPort } from "../config/fields.ts";
import { loadFromFlags } from "../config/flags.ts";
import { ADMIN_TOKEN_FILE } from "../identity/identity.ts";
import type { CliIO } from "./command.ts";

/** parseArgs options of client commands (plus the config flags, which locate data_dir and api.admin_listen). */
export const clientFlagOptions = {
  url: { type: "string" },
  token: { type: "string" },
} as const;

export const clientFlagUsage = [
  "  --url URL            node to talk to (default: env SLOWDRIP_URL, else the admin listener http://<api.admin_listen>)",
  "  --token TOKEN        admin token (default: env SLOWDRIP_TOKEN, else <data_dir>/admin.token if readable)",
].join("\n");

/** A connected client: transport plus the headers control calls need. */
export interface NodeClient {
  url: string;
  transport: Transport;
  /** Call options carrying the admin token, when one was found. */
  callOptions: { headers?: Record<string, string> };
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
  const url = (values.url as string | undefined) || io.env.SLOWDRIP_URL || localUrl(loaded.config["api.admin_listen"]);
  let token = (values.token as string | undefined) ?? io.env.SLOWDRIP_TOKEN;
  if (!token) {
    try {
      token = readFileSync(join(resolve(io.cwd, loaded.config["node.data_dir"]), ADMIN_TOKEN_FILE), "utf8").trim();
    } catch {
      token = undefined;
    }
  }
  const transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
  return { url, transport, callOptions: token ? { headers: { authorization: `Bearer ${token}` } } : {} };
}
