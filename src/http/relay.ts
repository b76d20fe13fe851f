// HTTP adapter of the film relay: GET /relay/<blake3> (public) streams a catalog film's blob fetched on the caller's
// behalf, metered as relay-bandwidth; refusals (loop, scope, cap) mapped to statuses here.
import { RELAYED_HEADER, RelayError, type FilmRelay } from "../films/relay.ts";
import type { BlobStore } from "../store/types.ts";
import { chooseRange, serveBlob } from "./blobs.ts";
import type { ReadGate } from "./paygate.ts";
import type { HttpErrorMapper, HttpRoute } from "./routes.ts";

/** What the relay route needs. */
export interface RelayRoutesDeps {
  relay: FilmRelay;
  store: BlobStore;
  gate?: ReadGate;
}

const RELAY = /^\/relay\/([0-9a-f]{64})$/;

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** GET/HEAD /relay/<blake3>. */
export function relayRoutes(deps: RelayRoutesDeps): HttpRoute[] {
  return [
    {
      name: "/relay/:hash",
      methods: ["GET", "HEAD"],
      path: RELAY,
      expose: "public",
      async handle({ req, res, params }) {
        const hash = params[0]!;
        const session = one(req.headers["x-session"]);
        const grant = await deps.relay.admit(hash, {
          relayed: req.headers[RELAYED_HEADER] !== undefined,
          peer: req.socket?.remoteAddress ?? "unknown",
          ...(session ? { session } : {}),
          range: (size) => {
            if (req.method === "HEAD") return { offset: 0, length: 0 };
            const c = chooseRange(one(req.headers.range), size);
            return c.kind === "range" ? { offset: c.start, length: c.end - c.start + 1 } : { offset: 0, length: c.kind === "full" ? size : 0 };
          },
        });
        res.once("finish", () => {
          if (res.statusCode === 200 || res.statusCode === 206) grant.commit(grant.length);
        });
        await serveBlob({ store: deps.store, ...(deps.gate ? { gate: deps.gate } : {}) }, req, res, hash, { service: "relay-bandwidth", extraHeaders: { "x-slowdrip-source": grant.source, "cache-control": "private, no-store" } });
      },
    },
  ];
}

/** RelayError -> HTTP status: off 404, scope 403, cap 429, loop 508, unavailable 503. */
export const relayHttpErrors: HttpErrorMapper = (err) => {
  if (!(err instanceof RelayError)) return undefined;
  const status = { off: 404, scope: 403, cap: 429, loop: 508, unavailable: 503 }[err.reason];
  return { status, message: err.message, headers: { "x-reason": `relay-${err.reason}` } };
};
