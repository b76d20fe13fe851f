// StreamService: MediaMTX paths and sessions, a server stream of live events, and signed manifests. Thin over media/ and stream/.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { EventEmitter } from "node:events";
import {
  GetIngestStatsResponseSchema,
  GetManifestResponseSchema,
  IngestLatencySchema,
  ListPathsResponseSchema,
  LiveEventType,
  LivePathSchema,
  LiveSessionSchema,
  StreamService,
  StreamServiceListSessionsResponseSchema,
  WatchEventsResponseSchema,
  type WatchEventsResponse,
} from "../gen/slowdrip/v1/stream_pb.ts";
import type { MediaSupervisor } from "../media/supervisor.ts";
import { SlowConsumerError, watchEvents, type MediaEvent, type MediaWatcher } from "../media/watcher.ts";
import type { SegmentSealed, StreamIngest } from "../stream/ingest.ts";
import type { IngestLatency, LatencyFigures } from "../media/latency.ts";
import type { RpcService } from "./router.ts";

export interface StreamServiceDeps {
  watcher: MediaWatcher;
  ingest: StreamIngest;
  supervisor: MediaSupervisor;
  /** Aborted when the node stops (ends open WatchEvents streams). */
  signal: AbortSignal;
  /** Events buffered per slow WatchEvents client before it is cut off. Default 1024. */
  maxQueue?: number;
  /** The ingest pipeline's latency figures (GetIngestStats). */
  latency?: IngestLatency;
}

const big = (n: number) => BigInt(Math.max(0, Math.floor(n)));

function toProto(e: MediaEvent | (SegmentSealed & { type: "segment-sealed" })): WatchEventsResponse {
  switch (e.type) {
    case "path-available":
      return create(WatchEventsResponseSchema, { type: LiveEventType.PATH_AVAILABLE, path: e.path, atMs: BigInt(e.at), detail: e.sourceType ?? "" });
    case "path-unavailable":
      return create(WatchEventsResponseSchema, { type: LiveEventType.PATH_UNAVAILABLE, path: e.path, atMs: BigInt(e.at), detail: e.reason });
    case "reader-joined":
      return create(WatchEventsResponseSchema, { type: LiveEventType.READER_JOINED, path: e.path, atMs: BigInt(e.at), detail: e.readerType, readerId: e.readerId });
    case "reader-left":
      return create(WatchEventsResponseSchema, { type: LiveEventType.READER_LEFT, path: e.path, atMs: BigInt(e.at), detail: e.readerType, readerId: e.readerId });
    case "segment-sealed":
      return create(WatchEventsResponseSchema, {
        type: LiveEventType.SEGMENT_SEALED,
        path: e.stream,
        atMs: BigInt(e.at),
        segmentSeq: big(e.entry.seq),
        segmentBlake3: e.entry.blake3,
        root: e.root,
      });
  }
}

/** The StreamService implementation with its access policy (reads are public, like the HLS origin). */
export function streamService(deps: StreamServiceDeps): RpcService {
  // One emitter carrying both sources, so a client sees one ordered stream.
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  deps.watcher.on("event", (e: MediaEvent) => bus.emit("event", e));
  deps.ingest.on("sealed", (s: SegmentSealed) => bus.emit("event", { ...s, type: "segment-sealed" }));

  const impl: ServiceImpl<typeof StreamService> = {
    async listPaths() {
      const snap = deps.watcher.snapshot();
      const st = deps.supervisor.status();
      const paths = await Promise.all(
        snap.paths.map(async (p) => {
          const m = await deps.ingest.manifest(p.name).catch(() => null);
          return create(LivePathSchema, {
            name: p.name,
            available: p.available,
            sourceType: p.sourceType ?? "",
            readers: p.readers.length,
            inboundBytes: big(p.inboundBytes),
            outboundBytes: big(p.outboundBytes),
            segments: big(m?.manifest.count ?? 0),
            root: m?.manifest.root ?? "",
          });
        }),
      );
      return create(ListPathsResponseSchema, { paths, mediamtxState: st.state, mediamtxDetail: st.detail });
    },
    listSessions() {
      const snap = deps.watcher.snapshot();
      return create(StreamServiceListSessionsResponseSchema, {
        sessions: snap.sessions.map((s) =>
          create(LiveSessionSchema, {
            protocol: s.protocol,
            id: s.id,
            path: s.path,
            state: s.state,
            remoteAddr: s.remoteAddr,
            inboundBytes: big(s.inboundBytes),
            outboundBytes: big(s.outboundBytes),
            createdUnixMs: BigInt(Number.isFinite(Date.parse(s.created)) ? Date.parse(s.created) : 0),
          }),
        ),
      });
    },
    async *watchEvents(req, ctx) {
      if (req.path.length > 256) throw new ConnectError("path longer than 256 chars", Code.InvalidArgument);
      const signal = AbortSignal.any([ctx.signal, deps.signal]);
      try {
        for await (const e of watchEvents<MediaEvent | (SegmentSealed & { type: "segment-sealed" })>(bus, signal, deps.maxQueue ?? 1024)) {
          const path = e.type === "segment-sealed" ? e.stream : e.path;
          if (req.path && req.path !== path) continue;
          yield toProto(e);
        }
      } catch (e) {
        if (e instanceof SlowConsumerError) throw new ConnectError(e.message, Code.ResourceExhausted);
        throw e;
      }
    },
    async getManifest(req) {
      if (!req.path || req.path.length > 256) throw new ConnectError("path must be 1-256 chars", Code.InvalidArgument);
      const m = await deps.ingest.manifest(req.path);
      if (!m) throw new ConnectError(`no manifest for path '${req.path}'`, Code.NotFound);
      return create(GetManifestResponseSchema, { manifestJson: JSON.stringify(m) });
    },
    getIngestStats() {
      const f = deps.latency?.figures() ?? { paths: [], all: { path: "", samples: 0, p50Ms: 0, p95Ms: 0, maxMs: 0, total: 0 } };
      const one = (x: LatencyFigures) => create(IngestLatencySchema, { path: x.path, samples: x.samples, p50Ms: x.p50Ms, p95Ms: x.p95Ms, maxMs: x.maxMs, total: big(x.total) });
      return create(GetIngestStatsResponseSchema, { paths: f.paths.map(one), all: one(f.all) });
    },
  };
  return {
    service: StreamService,
    impl,
    access: { ListPaths: "public", ListSessions: "admin", WatchEvents: "public", GetManifest: "public", GetIngestStats: "public" },
  };
}
