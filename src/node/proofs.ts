// The proofs component: answers storage challenges (ProofService), takes in service receipts (POST
// /live/<path>/receipts, ReceiptService), verifies presence when given the verifier role (PresenceService), runs the
// presence agent toward a verifier, and exports their metrics.
import { join } from "node:path";
import { Counter, Gauge } from "prom-client";
import type { RootDatabase } from "lmdb";
import { receiptRoutes } from "../http/receipts.ts";
import { PosResponder } from "../proofs/miner.ts";
import { ReceiptIntake, type SegmentLookup } from "../proofs/intake.ts";
import { PresenceAgent, PresenceVerifier } from "../proofs/presence.ts";
import { presenceClient, presenceRpcError, presenceService } from "../rpc/presence.ts";
import { posRpcError, proofService } from "../rpc/proofs.ts";
import { receiptService } from "../rpc/receipts.ts";
import type { RpcService } from "../rpc/router.ts";
import type { StreamIngest } from "../stream/ingest.ts";
import { openLmdb } from "../store/lmdb-native.ts";
import type { BlobStore } from "../store/types.ts";
import type { Component, NodeBase } from "./node.ts";

/** What the proofs component needs from others and from the cluster wiring. */
export interface ProofsNeeds {
  /** The blob store whose shards storage challenges ask about. */
  store: BlobStore;
  /** Segments of the live paths (receipts are checked against them); without it there is no receipt intake. */
  segments?: SegmentLookup;
  /** Who may challenge besides proofs.wardens: the cluster wiring passes the current map's validator and wardens. */
  mayChallenge?: (nodeId: string) => boolean;
  /** Who may prove presence to this node's verifier (the cluster wiring passes the map's members); default: anyone. */
  allowProver?: (nodeId: string) => boolean;
}

/** Segment lookup over the live edge's signed manifests (the live window). */
export function manifestSegments(ingest: Pick<StreamIngest, "manifest">): SegmentLookup {
  return async (stream, blake3) => {
    const sm = await ingest.manifest(stream);
    const e = sm?.manifest.segments.find((s) => s.blake3 === blake3);
    return e ? { seq: e.seq, duration: e.duration, size: e.size } : undefined;
  };
}

/** Parses proofs.presence_target ("<node id>@<url>"). */
export function parseTarget(s: string): { id: string; url: string } | undefined {
  const at = s.indexOf("@");
  return at === 64 ? { id: s.slice(0, 64), url: s.slice(65) } : undefined;
}

/** Builds the proofs component. */
export async function proofsComponent(ctx: NodeBase, needs: ProofsNeeds): Promise<Component & { responder: PosResponder; intake?: ReceiptIntake; verifier?: PresenceVerifier }> {
  const { config, identity, log } = ctx;
  const wardens = new Set(config["proofs.wardens"]);
  const responder = new PosResponder({
    source: needs.store,
    signer: identity,
    concurrency: config["tuning.pos_concurrency"],
    mayChallenge: (id) => wardens.has(id) || (needs.mayChallenge?.(id) ?? false),
  });
  // Wardens' challenges keep their own room in the replay cache.
  ctx.nonces.addPrivileged((id) => wardens.has(id));

  // The node's one LMDB environment (shared with the store and the wallet), for receipts and presence records.
  const root: RootDatabase | undefined = needs.segments || config["proofs.presence_verifier"] ? await openLmdb({ path: join(ctx.dataDir, "db"), compression: false }) : undefined;
  const intake = needs.segments && root
    ? new ReceiptIntake({
        nodeId: identity.nodeId,
        secretKey: identity.secretKey,
        db: root,
        segments: needs.segments,
        batchSize: config["proofs.receipt_batch"],
        batchIntervalMs: config["proofs.receipt_batch_interval"],
        log,
      })
    : undefined;
  const verifier = config["proofs.presence_verifier"] && root
    ? new PresenceVerifier({
        nodeId: identity.nodeId,
        secretKey: identity.secretKey,
        epochMs: config["proofs.presence_epoch"],
        db: root,
        ...(needs.allowProver ? { allowProver: needs.allowProver } : {}),
      })
    : undefined;
  const target = parseTarget(config["proofs.presence_target"]);
  const agent = target
    ? new PresenceAgent({ nodeId: identity.nodeId, secretKey: identity.secretKey, client: presenceClient(identity, target.id, target.url), log })
    : undefined;

  registerMetrics(ctx, responder, intake, verifier);
  const services: RpcService[] = [proofService({ responder })];
  if (intake) services.push(receiptService({ intake }));
  if (verifier) services.push(presenceService({ verifier }));
  return {
    name: "proofs",
    responder,
    ...(intake ? { intake } : {}),
    ...(verifier ? { verifier } : {}),
    services,
    routes: intake ? receiptRoutes({ intake }) : [],
    rpcErrors: [posRpcError, presenceRpcError],
    afterListen() {
      intake?.start();
      if (agent && target) {
        log.info({ verifier: target.id, url: target.url }, "presence: proving to the verifier every epoch");
        agent.start();
      }
    },
    async stop() {
      await agent?.stop();
      await intake?.stop();
      await root?.close();
    },
  };
}

function registerMetrics(ctx: NodeBase, responder: PosResponder, intake: ReceiptIntake | undefined, verifier: PresenceVerifier | undefined): void {
  const registers = [ctx.metrics.registry];
  new Counter({
    name: "slowdrip_pos_challenges_total",
    help: "Storage challenges by outcome (answered, refused, busy, not-stored, corrupt, bad-challenge, error).",
    labelNames: ["outcome"],
    registers,
    collect() {
      this.reset();
      for (const [outcome, n] of Object.entries(responder.counts)) this.inc({ outcome }, n);
    },
  });
  new Gauge({
    name: "slowdrip_pos_in_flight",
    help: "Storage proofs being computed.",
    registers,
    collect() {
      this.set(responder.inFlight);
    },
  });
  if (verifier) {
    new Gauge({
      name: "slowdrip_presence_proofs",
      help: "Presence proofs accepted in the current epoch.",
      registers,
      collect() {
        this.set(verifier.count(verifier.epoch()));
      },
    });
  }
  if (!intake) return;
  new Counter({
    name: "slowdrip_receipts_total",
    help: "Service receipts by result (accepted or the refusal reason).",
    labelNames: ["result"],
    registers,
    collect() {
      this.reset();
      for (const [result, n] of Object.entries(intake.counts)) this.inc({ result }, n);
    },
  });
  new Gauge({
    name: "slowdrip_receipts_pending",
    help: "Accepted receipts not sealed into a batch yet.",
    registers,
    collect() {
      this.set(Math.max(0, intake.pending));
    },
  });
  new Gauge({
    name: "slowdrip_receipts_deadline_miss_ratio",
    help: "Share of a path's receipts whose segment took longer than its duration.",
    labelNames: ["path"],
    registers,
    collect() {
      this.reset();
      for (const q of intake.qos.stats()) this.set({ path: q.path }, q.deadlineMissRatio);
    },
  });
  for (const [name, help, p50, p95] of [
    ["slowdrip_receipts_ttfb_ms", "Time to first byte of a path's segments from its receipts (p50, p95).", "ttfbP50Ms", "ttfbP95Ms"],
    ["slowdrip_receipts_jitter_ms", "Jitter of a path's segment arrivals from its receipts (p50, p95).", "jitterP50Ms", "jitterP95Ms"],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: ["path", "quantile"],
      registers,
      collect() {
        this.reset();
        for (const q of intake.qos.stats()) {
          this.set({ path: q.path, quantile: "0.5" }, q[p50]);
          this.set({ path: q.path, quantile: "0.95" }, q[p95]);
        }
      },
    });
  }
}
