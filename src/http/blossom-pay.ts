// BUD-07 paid uploads through the node's one pay gate: 402 with X-Cashu (NUT-18), the token redeemed before a byte is
// stored, and the session charged by the bytes the upload actually stored (the read gate meters bytes sent instead).
import { PAY_HEADERS, type Gate } from "../pay/gate.ts";
import { applyDecision } from "./paygate.ts";
import type { NodeRequest, NodeResponse } from "./types.ts";

/** A paid upload that may proceed: settle with the bytes stored (0 when it failed: the session keeps its allotment). */
export interface UploadTicket {
  settle(bytes: number): void;
}

/**
 * Gate of one upload of `bytes` (service content-upload). Returns a ticket when it may proceed (paid now, from a
 * session, or free by the gate's rules), else undefined after answering (402 / 400 / 503). With `preflight` (HEAD
 * /upload, BUD-06) no payment or session is taken: it only says whether one will be needed.
 */
export async function gateUpload(gate: Gate, req: NodeRequest, res: NodeResponse, url: URL, bytes: number, headers: Record<string, string>, preflight = false): Promise<UploadTicket | undefined> {
  const get = (n: string) => {
    const v = req.headers[n];
    return Array.isArray(v) ? v.join(",") : v;
  };
  const cashu = preflight ? undefined : get(PAY_HEADERS.cashu);
  const session = preflight ? undefined : get(PAY_HEADERS.session);
  const d = await gate.decide({
    service: "content-upload",
    path: url.pathname,
    client: req.socket?.remoteAddress ?? "unknown",
    bytes,
    ...(cashu !== undefined ? { cashu } : {}),
    ...(session !== undefined ? { session } : {}),
  });
  if (d.kind !== "serve" && d.kind !== "free") {
    applyDecision(gate, d, res, headers);
    return undefined;
  }
  if (preflight) {
    gate.settle(d.ticket, 0);
    return { settle: () => undefined };
  }
  if (d.kind === "serve") {
    res.setHeader(PAY_HEADERS.session, d.session.id);
    res.setHeader(PAY_HEADERS.sessionRemaining, String(d.session.left));
  }
  let settled = false;
  return {
    settle(stored: number) {
      if (settled) return;
      settled = true;
      gate.settle(d.ticket, stored);
    },
  };
}
