// HTTP adapter of the film catalog: GET /api/film-catalog on the public listener.
import type { CatalogSnapshot } from "../films/catalog.ts";
import { sendJson, type HttpRoute } from "./routes.ts";

/** The film routes: the merged, verified catalog of trusted creators as JSON. */
export function filmRoutes(deps: { catalog: { snapshot(): CatalogSnapshot } }): HttpRoute[] {
  return [
    {
      name: "/api/film-catalog",
      methods: ["GET", "HEAD"],
      path: "/api/film-catalog",
      expose: "public",
      handle: ({ res }) => sendJson(res, 200, deps.catalog.snapshot()),
    },
  ];
}
