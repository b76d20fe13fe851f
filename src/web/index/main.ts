// Entry of / on the public listener: the live streams this node carries, each linking to its player (creator pinned
// from its signed announce), and the node's films when it publishes a film catalog (/api/film-catalog).
import { el, encodePath } from "../dom.ts";
import { rpc } from "../rpc.ts";

interface LivePathJson {
  name: string;
  available?: boolean;
  readers?: number;
  segments?: string;
}

const MAX_LISTED = 100;
const root = document.getElementById("app")!;

async function announceOf(path: string): Promise<{ title: string; creator: string } | null> {
  const r = await fetch(`/live/${encodePath(path)}/announce.json`).catch(() => null);
  if (!r?.ok) return null;
  const j = (await r.json().catch(() => null)) as { announce?: { title?: unknown; creator?: unknown } } | null;
  const a = j?.announce;
  return a && typeof a.creator === "string" && /^[0-9a-f]{64}$/.test(a.creator) ? { title: typeof a.title === "string" ? a.title : path, creator: a.creator } : null;
}

async function liveList(): Promise<HTMLElement> {
  const list = el("ul", { id: "streams", class: "streams" });
  let paths: LivePathJson[] = [];
  try {
    paths = (await rpc<{ paths?: LivePathJson[] }>("slowdrip.v1.StreamService/ListPaths")).paths ?? [];
  } catch (e) {
    return el("p", { class: "hint" }, `Live streams are not available here: ${(e as Error).message}`);
  }
  const live = paths.filter((p) => p.available && Number(p.segments ?? 0) > 0).slice(0, MAX_LISTED);
  if (live.length === 0) return el("p", { id: "streams-empty", class: "hint" }, "No live stream right now.");
  const announces = await Promise.all(live.map((p) => announceOf(p.name)));
  live.forEach((p, i) => {
    const a = announces[i];
    const href = `/watch/${encodePath(p.name)}${a ? `?creator=${a.creator}` : ""}`;
    list.append(
      el(
        "li",
        { "data-path": p.name },
        el("a", { href }, a?.title ?? p.name),
        " ",
        el("span", { class: "hint" }, `${p.name} - ${p.readers ?? 0} readers`),
        " ",
        el("a", { href: `/watch/${encodePath(p.name)}?webrtc=1`, class: "hint" }, "low latency"),
      ),
    );
  });
  return list;
}

/** The film catalog, when the node serves one (a list of {title, blake3|hash}); nothing when it does not. */
async function films(): Promise<HTMLElement | null> {
  const r = await fetch("/api/film-catalog").catch(() => null);
  if (!r?.ok || !(r.headers.get("content-type") ?? "").includes("json")) return null;
  const j = (await r.json().catch(() => null)) as unknown;
  const items = Array.isArray(j) ? j : Array.isArray((j as { films?: unknown })?.films) ? (j as { films: unknown[] }).films : [];
  const rows = items
    .slice(0, MAX_LISTED)
    .map((f) => f as { title?: unknown; blake3?: unknown; hash?: unknown })
    .map((f) => ({ title: typeof f.title === "string" ? f.title : "", hash: typeof f.blake3 === "string" ? f.blake3 : typeof f.hash === "string" ? f.hash : "" }))
    .filter((f) => /^[0-9a-f]{64}$/.test(f.hash));
  if (rows.length === 0) return null;
  return el("section", {}, el("h2", {}, "Films"), el("ul", { id: "films" }, ...rows.map((f) => el("li", {}, el("a", { href: `/api/film/${f.hash}` }, f.title || f.hash)))));
}

root.append(el("h1", {}, "Live on this node"));
void liveList().then(async (l) => {
  root.append(l);
  const f = await films();
  if (f) root.append(f);
});
