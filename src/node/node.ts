// Composition root: builds every component from the config, wires RPC and HTTP onto the three listeners (public, admin,
// hooks), and owns the lifecycle.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createSecureContext } from "node:tls";
import { Counter } from "prom-client";
import { splitHostPort } from "../config/fields.ts";
import type { Config } from "../config/schema.ts";
import { loadOrCreateAdminToken, loadOrCreateIdentity, type Identity } from "../identity/identity.ts";
import { adminRoutes } from "../http/admin.ts";
import { startListener, type Listener } from "../http/listener.ts";
import { LISTENER_KEYS, routeHandler, type HttpErrorMapper, type HttpRoute, type ListenerName } from "../http/routes.ts";
import { authInterceptor } from "../rpc/auth.ts";
import { NonceCache } from "../identity/request-signing.ts";
import { errorBoundary, type ErrorMapper } from "../rpc/errors.ts";
import { metricsInterceptor } from "../rpc/metrics.ts";
import { nodeService } from "../rpc/node.ts";
import { accessPolicy, disconnectInterceptor, listenerInterceptor, rpcHandler, type RpcService } from "../rpc/router.ts";
import type { NodeHandlerFn } from "../http/types.ts";
import { upgradeHandler, type UpgradeRoute } from "../http/upgrade.ts";
import type { Logger } from "./logger.ts";
import { NodeMetrics } from "./metrics.ts";
import { Readiness } from "./readiness.ts";

/** Base URLs of the node's listeners. */
export interface ListenerUrls {
  /** The public listener (api.listen): blob reads, /live, public and peer RPCs, health, readiness, JWKS. */
  readonly url: string;
  /** The admin listener (api.admin_listen): everything, control RPCs and /metrics included. */
  readonly adminUrl: string;
  /** The loopback hooks listener (api.hooks_listen): MediaMTX's hooks and JWKS. */
  readonly hooksUrl: string;
}

/** A running node. */
export interface RunningNode extends ListenerUrls {
  readonly identity: Identity;
  readonly adminToken: string;
  readonly readiness: Readiness;
  readonly metrics: NodeMetrics;
  readonly dataDir: string;
  /** Graceful stop: stop accepting, finish in-flight requests (bounded by api.shutdown_timeout), close components. */
  stop(): Promise<void>;
}

/**
 * A component the node starts and stops: it can add RPC services, HTTP routes and error mappers.
 * Components start in order and stop in reverse order.
 */
export interface Component {
  name: string;
  services?: RpcService[];
  routes?: HttpRoute[];
  /** Paths that take HTTP/1.1 upgrades (WebSocket), e.g. the tracker. */
  upgrades?: UpgradeRoute[];
  rpcErrors?: ErrorMapper[];
  httpErrors?: HttpErrorMapper[];
  storageTotals?: () => { bytesUsed: number; bytesMax: number; blobCount: number };
  /** Called once the listeners are up, with their URLs (e.g. to start MediaMTX with hooks pointing at the hooks listener). */
  afterListen?(urls: ListenerUrls): Promise<void> | void;
  stop?(): Promise<void> | void;
}

/**
 * The node's own parts, which every component factory may use. What one component provides to another (the blob
 * store, the pay gates) is passed explicitly by the assembler (see components.ts), never through this object.
 */
export interface NodeBase {
  readonly config: Config;
  readonly dataDir: string;
  readonly identity: Identity;
  readonly adminToken: string;
  readonly log: Logger;
  readonly readiness: Readiness;
  readonly metrics: NodeMetrics;
  /** Aborted when the node begins to stop. */
  readonly signal: AbortSignal;
  /** Replay cache shared by every check of signed requests (RPC and HTTP). */
  readonly nonces: NonceCache;
}

/**
 * Builds the node's components in start order. `add` registers a built component (so that it is stopped if a later
 * one fails to build) and returns it, so that its outputs can be handed to the next factory.
 */
export type Assemble = (base: NodeBase, add: <C extends Component>(component: C) => C) => Promise<void>;

/** Starts a node from an effective config. */
export async function startNode(config: Config, log: Logger, assemble: Assemble = async () => {}): Promise<RunningNode> {
  const startedAt = Date.now();
  const dataDir = resolve(config["node.data_dir"]);
  const { identity, created } = loadOrCreateIdentity(dataDir);
  if (created) log.info({ node_id: identity.nodeId, data_dir: dataDir }, "created a new node identity");
  const adminToken = loadOrCreateAdminToken(dataDir);
  const readiness = new Readiness();
  const metrics = new NodeMetrics();
  const stopping = new AbortController();
  const nonces = new NonceCache();
  // Operators' and free peers' signed calls keep their own replay-cache room under a flood of self-made keys.
  const trustedSigners = new Set([...config["node.operator_keys"], ...config["pay.free_peers"]]);
  nonces.addPrivileged((id) => trustedSigners.has(id));
  const base: NodeBase = { config, dataDir, identity, adminToken, log, readiness, metrics, signal: stopping.signal, nonces };

  readiness.register("api", { required: true, detail: "starting" });
  const components: Component[] = [];
  const stopComponents = async () => {
    for (const c of components.reverse()) {
      try {
        await c.stop?.();
      } catch (err) {
        log.error({ err, component: c.name }, "component failed to stop cleanly");
      }
    }
  };
  try {
    await assemble(base, (c) => {
      components.push(c);
      return c;
    });
  } catch (err) {
    await stopComponents();
    throw err;
  }

  const storageTotals = components.find((c) => c.storageTotals)?.storageTotals;
  const services: RpcService[] = [
    nodeService({ identity, readiness, startedAt, publicEndpoint: config["node.public_endpoint"], publicStatus: config["api.public_status"], ...(storageTotals ? { storageTotals } : {}) }),
    ...components.flatMap((c) => c.services ?? []),
  ];
  const policy = accessPolicy(services);
  const operatorKeys: ReadonlySet<string> = new Set(config["node.operator_keys"]);
  const routes = [...adminRoutes({ readiness, metrics, nodeId: identity.nodeId }), ...components.flatMap((c) => c.routes ?? [])];
  const upgrades = components.flatMap((c) => c.upgrades ?? []);
  const httpErrors = components.flatMap((c) => c.httpErrors ?? []);
  const rpcErrors = components.flatMap((c) => c.rpcErrors ?? []);
  const readAllowed = () => config["store.public_list"];
  const disconnects = new Counter({
    name: "slowdrip_http_disconnects_total",
    help: "Requests (plain HTTP routes and RPCs) whose client went away before the answer was complete.",
    labelNames: ["listener", "route"],
    registers: [metrics.registry],
  });
  const gone = (listener: ListenerName) => (route: string) => disconnects.inc({ listener, route });
  const handlerFor = (listener: "public" | "admin") =>
    rpcHandler({
      services,
      interceptors: [
        metricsInterceptor(metrics),
        errorBoundary(rpcErrors, log),
        disconnectInterceptor((method) => {
          disconnects.inc({ listener, route: method });
          log.debug({ rpc: method }, "client went away before the answer was complete");
        }),
        listenerInterceptor({ listener, policy, readAllowed }),
        authInterceptor({ policy, adminToken: () => adminToken, operatorKeys: () => operatorKeys, nonces, self: identity.nodeId, readAllowed }),
      ],
      maxMessageSize: config["api.max_message_size"],
      maxTimeoutMs: config["api.request_timeout"],
      shutdownSignal: stopping.signal,
      fallback: routeHandler(routes, { metrics, log, mappers: httpErrors, listener, maxBodySize: config["api.max_body_size"], onDisconnect: gone(listener) }),
    });
  const handlers: Record<ListenerName, NodeHandlerFn> = {
    public: handlerFor("public"),
    admin: handlerFor("admin"),
    // The hooks listener answers plain HTTP routes only (no RPC).
    hooks: routeHandler(routes, { metrics, log, mappers: httpErrors, listener: "hooks", onDisconnect: gone("hooks") }),
  };

  const cuts = new Counter({
    name: "slowdrip_http_cut_total",
    help: "Connections and requests the listeners cut: per-ip-limit, idle, upload-stall, write-stall.",
    labelNames: ["listener", "reason"],
    registers: [metrics.registry],
  });
  const listeners: Listener[] = [];
  const closeListeners = async (graceMs: number) => {
    await Promise.all(listeners.map((l) => l.close(graceMs)));
  };
  try {
    const addresses = listenerAddresses(config);
    const tls = { public: readTls(config, "api.tls_cert", "api.tls_key"), admin: readTls(config, "api.admin_tls_cert", "api.admin_tls_key"), hooks: undefined };
    for (const name of ["public", "admin", "hooks"] as const) {
      const { host, port } = addresses[name];
      listeners.push(
        await startListener({
          host,
          port,
          handler: handlers[name],
          maxConnections: config["api.max_connections"],
          // MediaMTX alone calls the hooks, from loopback, with a connection per auth request: no per-address cap there.
          maxConnectionsPerIp: name === "hooks" ? 0 : config["api.max_connections_per_ip"],
          idleTimeoutMs: config["api.idle_timeout"],
          writeStallTimeoutMs: config["api.write_stall_timeout"],
          maxH2Streams: config["api.max_h2_streams"],
          onCut: (reason) => cuts.inc({ listener: name, reason }),
          ...(upgrades.length > 0 && name !== "hooks" ? { onUpgrade: upgradeHandler(upgrades, name) } : {}),
          ...(tls[name] ? { tls: tls[name] } : {}),
        }),
      );
    }
  } catch (err) {
    await closeListeners(0);
    await stopComponents();
    throw err;
  }
  const [pub, adm, hooks] = listeners as [Listener, Listener, Listener];
  const urls: ListenerUrls = { url: pub.url, adminUrl: adm.url, hooksUrl: hooks.url };
  readiness.set("api", true, `listening on ${urls.url} (admin ${urls.adminUrl}, hooks ${urls.hooksUrl})`);
  for (const c of components) {
    try {
      await c.afterListen?.(urls);
    } catch (err) {
      log.error({ err, component: c.name }, "component failed after the listener started");
    }
  }
  log.info({ node_id: identity.nodeId, url: urls.url, admin_url: urls.adminUrl, hooks_url: urls.hooksUrl, data_dir: dataDir }, "node started");

  let stopped: Promise<void> | undefined;
  return {
    identity,
    adminToken,
    ...urls,
    readiness,
    metrics,
    dataDir,
    stop() {
      stopped ??= (async () => {
        readiness.set("api", false, "stopping");
        log.info({ in_flight: listeners.reduce((n, l) => n + l.inFlight, 0) }, "stopping: no new connections, finishing in-flight requests");
        await closeListeners(config["api.shutdown_timeout"]);
        stopping.abort();
        await stopComponents();
        log.info("node stopped");
      })();
      return stopped;
    },
  };
}

/** A listener's certificate and key from their config keys: both set (read now), or neither (cleartext). */
export function readTls(config: Config, certKey: "api.tls_cert" | "api.admin_tls_cert", keyKey: "api.tls_key" | "api.admin_tls_key"): { cert: Buffer; key: Buffer } | undefined {
  const [certFile, keyFile] = [config[certKey], config[keyKey]];
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new RangeError(`${certKey} and ${keyKey} go together: set both (PEM files) or neither`);
  const read = (key: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new RangeError(`${key}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  const pair = { cert: read(certKey, certFile), key: read(keyKey, keyFile) };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new RangeError(`${certKey} / ${keyKey}: not a usable PEM certificate and key (${(err as Error).message})`, { cause: err });
  }
  return pair;
}

/** The three listen addresses; two listeners may not share a fixed address. */
export function listenerAddresses(config: Config): Record<ListenerName, { host: string; port: number }> {
  const out = {
    public: splitHostPort(config["api.listen"]),
    admin: splitHostPort(config["api.admin_listen"]),
    hooks: splitHostPort(config["api.hooks_listen"]),
  };
  const keys = LISTENER_KEYS as Record<ListenerName, "api.listen" | "api.admin_listen" | "api.hooks_listen">;
  const names = ["public", "admin", "hooks"] as const;
  for (const [i, a] of names.entries()) {
    for (const b of names.slice(i + 1)) {
      const x = out[a];
      const y = out[b];
      if (x.port !== 0 && x.port === y.port && (x.host === y.host || x.host === "0.0.0.0" || y.host === "0.0.0.0" || x.host === "::" || y.host === "::")) {
        throw new RangeError(`${keys[a]} and ${keys[b]} are the same address (${config[keys[a]]}): each listener needs its own port`);
      }
    }
  }
  return out;
}
