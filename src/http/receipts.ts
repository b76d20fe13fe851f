// HTTP adapter of the receipt intake: POST /live/<path>/receipts takes one signed service receipt (JSON, bounded body)
// and answers 201, or a refusal with its reason in X-Reason and the JSON body. A public-listener route.
import { ReceiptRefused, type ReceiptIntake, type RefusalReason } from "../proofs/intake.ts";
import { parseLivePath } from "../stream/origin.ts";
import { sendJson, type HttpRoute } from "./routes.ts";
import { writeHead, type NodeRequest } from "./types.ts";

/** Largest receipt body accepted (a signed receipt is about 600 bytes). */
export const MAX_RECEIPT_BODY = 4096;

/** HTTP status of each refusal. */
const STATUS: Record<RefusalReason, number> = {
  oversized: 413,
  malformed: 400,
  forged: 403,
  duplicate: 409,
  // Not 421 (Misdirected Request): HTTP clients such as fetch resend a 421 by themselves.
  "wrong-node": 409,
  "wrong-stream": 400,
  "unknown-segment": 404,
  "bad-figures": 422,
};

/** Reads at most `max` bytes of body; null when there are more (the rest is drained, not kept). */
function boundedBody(req: NodeRequest, max: number): Promise<Buffer | null> {
  if (Number(req.headers["content-length"] ?? "0") > max) {
    req.resume();
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    req.on("data", (chunk: Buffer) => {
      total += chunk.length;
      if (total <= max) {
        parts.push(chunk);
      } else {
        // Over the limit: keep draining (bounded by the request timeout) but keep nothing.
        parts.length = 0;
        resolve(null);
      }
    });
    req.on("end", () => resolve(total <= max ? Buffer.concat(parts, total) : null));
    req.on("error", reject);
  });
}

/** The receipt intake route. */
export function receiptRoutes(deps: { intake: ReceiptIntake }): HttpRoute[] {
  const refuse = (res: Parameters<HttpRoute["handle"]>[0]["res"], e: ReceiptRefused) => {
    sendJson(res, STATUS[e.reason], { error: e.message, reason: e.reason }, { "x-reason": e.reason, "access-control-allow-origin": "*", "access-control-expose-headers": "x-reason" });
  };
  return [
    {
      name: "/live/:path/receipts",
      methods: ["POST", "OPTIONS"],
      // Viewers post from anywhere: a public-listener route.
      expose: "public",
      path: /^\/live\/.+\/receipts$/,
      async handle({ req, res, url }) {
        const cors = { "access-control-allow-origin": "*", "access-control-allow-methods": "POST", "access-control-allow-headers": "content-type" };
        if (req.method === "OPTIONS") {
          writeHead(res, 204, cors);
          res.end();
          return;
        }
        const p = parseLivePath(url.pathname);
        if (!p) return refuse(res, new ReceiptRefused("wrong-stream", "not a /live/<path>/receipts URL"));
        const body = await boundedBody(req, MAX_RECEIPT_BODY);
        if (!body) {
          deps.intake.counts.oversized++;
          return refuse(res, new ReceiptRefused("oversized", `a receipt body is at most ${MAX_RECEIPT_BODY} bytes`));
        }
        let json: unknown;
        try {
          json = JSON.parse(body.toString("utf8"));
        } catch {
          deps.intake.counts.malformed++;
          return refuse(res, new ReceiptRefused("malformed", "the body is not JSON"));
        }
        try {
          const r = await deps.intake.accept(p[0], json);
          sendJson(res, 201, { accepted: true, pending: r.pending }, cors);
        } catch (err) {
          if (err instanceof ReceiptRefused) return refuse(res, err);
          throw err;
        }
      },
    },
  ];
}
