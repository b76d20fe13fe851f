// Composition root: builds every component from the config, wires RPC and HTTP onto the one listener, and owns the lifecycle.
import { resolve } from "node:path";
import { splitHostPort } from "../config/fields.ts";
import type { Config } from "../config/schema.ts";
import { loadOrCreateAdminToken, loadOrCreateIdentity, type Identity } from "../identity/identity.ts";
import { adminRoutes } from "../http/admin.ts";
import { startListener, type Listener } from "../http/listener.ts";
import { routeHandler, type HttpErrorMapper, type HttpRoute } from "../http/routes.ts";
import type { ReadGate } from "../http/paygate.ts";
import type { RpcReadGate } from "../rpc/paygate.ts";
import type { BlobStore } from "../store/types.ts";
import { authInterceptor } from "../rpc/auth.ts";
import { NonceCache } from "../identity/request-signing.ts";
import { errorBoundary, type ErrorMapper } from "../rpc/errors.ts";
import { metricsInterceptor } from "../rpc/metrics.ts";
import { nodeService } from "../rpc/node.ts";
import { accessPolicy, rpcHandler, type RpcService } from "../rpc/router.ts";
import type { Logger } from "./logger.ts";
import { NodeMetrics } from "./metrics.ts";
import { Readiness } from "./readiness.ts";

/** A running node. */
export interface RunningNode {
  readonly identity: Identity;
  readonly adminToken: string;
  readonly url: string;
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
  rpcErrors?: ErrorMapper[];
  httpErrors?: HttpErrorMapper[];
  storageTotals?: () => { bytesUsed: number; bytesMax: number; blobCount: number };
  /** Called once the listener is up, with its URL (e.g. to start MediaMTX with hooks pointing at it). */
  afterListen?(url: string): Promise<void> | void;
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
  const fallback = routeHandler(routes, { metrics, log, mappers: components.flatMap((c) => c.httpErrors ?? []) });
  const handler = rpcHandler({
    services,
    interceptors: [
      metricsInterceptor(metrics),
      errorBoundary(components.flatMap((c) => c.rpcErrors ?? []), log),
      authInterceptor({ policy, adminToken: () => adminToken, operatorKeys: () => operatorKeys, nonces, self: identity.nodeId }),
    ],
    maxMessageSize: config["api.max_message_size"],
    maxTimeoutMs: config["api.request_timeout"],
    shutdownSignal: stopping.signal,
    fallback,
  });

  const { host, port } = splitHostPort(config["api.listen"]);
  let listener: Listener;
  try {
    listener = await startListener({ host, port, handler, maxConnections: config["api.max_connections"], requestTimeoutMs: config["api.request_timeout"] });
  } catch (err) {
    await stopComponents();
    throw err;
  }
  readiness.set("api", true, `listening on ${listener.url}`);
  for (const c of components) {
    try {
      await c.afterListen?.(listener.url);
    } catch (err) {
      log.error({ err, component: c.name }, "component failed after the listener started");
    }
  }
  log.info({ node_id: identity.nodeId, url: listener.url, data_dir: dataDir }, "node started");

  let stopped: Promise<void> | undefined;
  return {
    identity,
    adminToken,
    url: listener.url,
    readiness,
    metrics,
    dataDir,
    stop() {
      stopped ??= (async () => {
        readiness.set("api", false, "stopping");
        log.info({ in_flight: listener.inFlight }, "stopping: no new connections, finishing in-flight requests");
        await listener.close(config["api.shutdown_timeout"]);
        stopping.abort();
        await stopComponents();
        log.info("node stopped");
      })();
      return stopped;
    },
  };
}
