// HTTP binding of the payment gate (NUT-24): 402 with X-Cashu, 400 with X-Reason, session headers, byte metering.
import type { Gate, GateDecision, Ticket } from "../pay/gate.ts";
import { PAY_HEADERS } from "../pay/gate.ts";
import { serviceForBlob, type ServiceName } from "../pay/pricing.ts";
import { sendJson } from "./routes.ts";
import type { NodeRequest, NodeResponse } from "./types.ts";

/** Headers browsers may read from gated answers. */
export const PAY_EXPOSED_HEADERS = [PAY_HEADERS.cashu, PAY_HEADERS.session, PAY_HEADERS.sessionRemaining, PAY_HEADERS.reason].join(", ");

function header(req: NodeRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/** What the route knows about the read it is about to serve. */
export interface GatedRead {
  service: ServiceName;
  /** Bytes the answer will carry (after Range). */
  bytes: number;
  /** Verified peer id, when the request was signed. */
  peer?: string;
  /** Extra headers for error answers (CORS). */
  headers?: Record<string, string>;
}

/**
 * Runs the gate for one GET. When the read may proceed, sets the session headers on `res`, starts metering the bytes
 * written, and returns true; otherwise it has answered (402 / 400 / 503) and returns false: no body bytes are sent.
 */
export async function gateRead(gate: Gate, req: NodeRequest, res: NodeResponse, url: URL, read: GatedRead): Promise<boolean> {
  const address = req.socket?.remoteAddress ?? "unknown";
  const d = await gate.decide({
    service: read.service,
    path: url.pathname,
    ...(read.peer ? { peer: read.peer } : {}),
    client: read.peer ?? address,
    allowanceKey: gate.pricing.allowanceKey(address, read.peer),
    bytes: read.bytes,
    ...(header(req, PAY_HEADERS.cashu) !== undefined ? { cashu: header(req, PAY_HEADERS.cashu)! } : {}),
    ...(header(req, PAY_HEADERS.session) !== undefined ? { session: header(req, PAY_HEADERS.session)! } : {}),
    ...(header(req, PAY_HEADERS.sessionRequest) !== undefined ? { sessionRequest: header(req, PAY_HEADERS.sessionRequest)! } : {}),
  });
  return applyDecision(gate, d, res, read.headers ?? {});
}

/** Writes the answer for a refusing decision, or prepares metering for a serving one. */
export function applyDecision(gate: Gate, d: GateDecision, res: NodeResponse, extra: Record<string, string>): boolean {
  const base = { ...extra, "access-control-expose-headers": [extra["access-control-expose-headers"], PAY_EXPOSED_HEADERS].filter(Boolean).join(", ") };
  switch (d.kind) {
    case "payment-required":
      sendJson(res, 402, { error: "payment required", amount: d.amount, unit: d.unit, mints: d.mints, allotment: d.allotment, reason: d.reason }, { ...base, [PAY_HEADERS.cashu]: d.request });
      return false;
    case "bad-request":
      sendJson(res, 400, { error: d.message, reason: d.reason }, { ...base, [PAY_HEADERS.reason]: d.reason });
      return false;
    case "conflict":
      sendJson(res, 409, { error: d.message, reason: d.reason }, { ...base, [PAY_HEADERS.reason]: d.reason, "retry-after": "1" });
      return false;
    case "unavailable":
      sendJson(res, 503, { error: d.message, reason: d.reason }, { ...base, [PAY_HEADERS.reason]: d.reason, "retry-after": "5" });
      return false;
    case "serve":
      res.setHeader(PAY_HEADERS.session, d.session.id);
      res.setHeader(PAY_HEADERS.sessionRemaining, String(d.session.unit === "byte" ? d.session.left : Math.max(0, d.session.validUntil - Date.now())));
      meter(gate, res, d.ticket);
      return true;
    case "free":
      if (d.ticket.reserved > 0) meter(gate, res, d.ticket);
      return true;
  }
}

/** Counts body bytes written to `res` and settles the ticket when the response closes. */
export function meter(gate: Gate, res: NodeResponse, ticket: Ticket): void {
  let sent = 0;
  const r = res as unknown as { write: (...a: unknown[]) => boolean; end: (...a: unknown[]) => unknown };
  const write = r.write.bind(res);
  const end = r.end.bind(res);
  const size = (c: unknown) => (typeof c === "string" ? Buffer.byteLength(c) : c instanceof Uint8Array ? c.byteLength : 0);
  r.write = (chunk: unknown, ...rest: unknown[]) => {
    sent += size(chunk);
    return write(chunk, ...rest);
  };
  r.end = (chunk?: unknown, ...rest: unknown[]) => {
    if (chunk !== undefined && typeof chunk !== "function") sent += size(chunk);
    return end(chunk, ...rest);
  };
  let settled = false;
  const settle = () => {
    if (settled) return;
    settled = true;
    gate.settle(ticket, sent);
  };
  res.once("finish", settle);
  res.once("close", settle);
}

/** A gate for one read, as used by routes: answers and returns false when the read must not proceed. */
export type ReadGate = (req: NodeRequest, res: NodeResponse, url: URL, read: GatedRead) => Promise<boolean>;

/**
 * The gate for `/blobs/<hash>`: prices each read by what the blob is, whatever the route asked for, so that a live
 * segment costs the same (live-view) by its hash as through /live/. `meta` gives the stored blob's source and tags
 * (undefined when it is gone; the route then answers for itself).
 */
export function blobPricedGate(gate: ReadGate, meta: (hash: string) => Promise<{ source: string; tags: readonly string[] } | undefined>): ReadGate {
  return async (req, res, url, read) => {
    const m = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname);
    const found = m ? await meta(m[1]!) : undefined;
    return gate(req, res, url, found ? { ...read, service: serviceForBlob(found) } : read);
  };
}

/**
 * The route-facing gate. `verifyPeer` checks a signed request and returns the signer's node id (free_peers match on
 * it); a request with a bad signature is refused with 400 and X-Reason bad-signature.
 */
export function readGate(gate: Gate, opts: { verifyPeer?: (req: NodeRequest, url: URL) => string | undefined } = {}): ReadGate {
  return async (req, res, url, read) => {
    if (read.peer === undefined && opts.verifyPeer) {
      let peer: string | undefined;
      try {
        peer = opts.verifyPeer(req, url);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        sendJson(res, 400, { error: message, reason: "bad-signature" }, { ...(read.headers ?? {}), [PAY_HEADERS.reason]: "bad-signature" });
        return false;
      }
      if (peer) read = { ...read, peer };
    }
    return gateRead(gate, req, res, url, read);
  };
}
