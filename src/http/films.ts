// HTTP adapter of the films layer: GET /api/film-catalog (public); the node's own films under /api/films (admin token).
import type { CatalogSnapshot } from "../films/catalog.ts";
import { FilmError } from "../films/errors.ts";
import type { Scope } from "../films/fetcher.ts";
import type { SignedFilm } from "../films/record.ts";
import { serveBlob } from "./blobs.ts";
import type { ReadGate } from "./paygate.ts";
import type { BlobStore } from "../store/types.ts";
import { readBody } from "./live.ts";
import { sendError, sendJson, type HttpErrorMapper, type HttpRoute } from "./routes.ts";
import type { NodeRequest } from "./types.ts";

/** Largest film record accepted by POST /api/films. */
export const MAX_FILM_BODY = 8 * 1024 * 1024;

/** The node's own films, as the routes use them. */
export interface OwnFilms {
  add(raw: unknown): Promise<{ film: SignedFilm; event: string }>;
  list(): SignedFilm[];
  remove(id: string): Promise<SignedFilm>;
  republish(id: string): string;
}

/** What the film routes need. */
export interface FilmRoutesDeps {
  catalog: { snapshot(): CatalogSnapshot };
  /** Brings a catalog film's blob into the store (local, swarm, origin); `scope` tells what the blob is. */
  fetcher: { ensure(hash: string): Promise<string>; scope(hash: string): Scope | undefined };
  store: BlobStore;
  gate?: ReadGate;
  films: OwnFilms;
  /** True when the request carries the admin token (or an operator's signature). */
  authorized(req: NodeRequest): boolean;
}

const ID = /^\/api\/films\/([0-9a-f]{32})$/;
const FILM_BLOB = /^\/api\/film\/([0-9a-f]{64})(?:\.(m3u8|ts|m4s|mp4|aac|jpg|png|webp))?$/;
const TYPES: Record<string, string> = {
  m3u8: "application/vnd.apple.mpegurl",
  ts: "video/mp2t",
  m4s: "video/iso.segment",
  mp4: "video/mp4",
  aac: "audio/aac",
  jpg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
};
const REPUBLISH = /^\/api\/films\/([0-9a-f]{32})\/republish$/;

/** The film routes. */
export function filmRoutes(deps: FilmRoutesDeps): HttpRoute[] {
  const guard = (req: NodeRequest) => {
    if (!deps.authorized(req)) throw new FilmError("the admin token is required", "unauthorized");
  };
  return [
    { name: "/api/film-catalog", methods: ["GET", "HEAD"], path: "/api/film-catalog", expose: "public", handle: ({ res }) => sendJson(res, 200, deps.catalog.snapshot()) },
    {
      name: "/api/film/:hash",
      methods: ["GET", "HEAD"],
      path: FILM_BLOB,
      expose: "public",
      async handle({ req, res, params }) {
        const [hash, ext] = [params[0]!, params[1]];
        const source = await deps.fetcher.ensure(hash);
        const scope = deps.fetcher.scope(hash);
        const type = ext ? TYPES[ext] : scope?.role === "playlist" ? TYPES.m3u8 : scope?.role === "segment" ? TYPES[scope.ext ?? "ts"] : undefined;
        res.setHeader("x-slowdrip-source", source);
        await serveBlob({ store: deps.store, ...(deps.gate ? { gate: deps.gate } : {}) }, req, res, hash, type ? { contentType: type } : {});
      },
    },
    {
      name: "/api/films",
      methods: ["GET", "POST"],
      path: "/api/films",
      expose: "admin",
      async handle({ req, res }) {
        guard(req);
        if (req.method === "GET") return sendJson(res, 200, { films: deps.films.list() });
        const body = await readBody(req, MAX_FILM_BODY);
        if (!body) return sendError(res, 413, `film record larger than ${MAX_FILM_BODY} bytes`);
        let raw: unknown;
        try {
          raw = JSON.parse(Buffer.from(body).toString("utf8"));
        } catch {
          return sendError(res, 400, "the body is not JSON");
        }
        const r = await deps.films.add(raw);
        sendJson(res, 200, { id: r.film.film.id, playlist: r.film.film.playlist, event: r.event });
      },
    },
    {
      name: "/api/films/:id",
      methods: ["DELETE"],
      path: ID,
      expose: "admin",
      async handle({ req, res, params }) {
        guard(req);
        const s = await deps.films.remove(params[0]!);
        sendJson(res, 200, { removed: s.film.id });
      },
    },
    {
      name: "/api/films/:id/republish",
      methods: ["POST"],
      path: REPUBLISH,
      expose: "admin",
      handle({ req, res, params }) {
        guard(req);
        sendJson(res, 200, { id: params[0], event: deps.films.republish(params[0]!) });
      },
    },
  ];
}

/** FilmError -> HTTP status. */
export const filmHttpErrors: HttpErrorMapper = (err) => {
  if (!(err instanceof FilmError)) return undefined;
  const status = err.kind === "unauthorized" ? 401 : err.kind === "not-found" ? 404 : err.kind === "full" ? 507 : err.kind === "unavailable" ? 503 : 400;
  return { status, message: err.message };
};
