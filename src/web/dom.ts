// Tiny DOM helpers for the pages that do without Preact (player, publish, index): elements, text, formatting.

/** Creates an element with attributes (data-* and aria-* included) and children (strings become text). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/** Human-readable bytes (binary units). */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return "-";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
}

/** The stream path of a page URL under `prefix` ("/watch/live/cam" -> "live/cam"), or null when malformed. */
export function pathAfter(pathname: string, prefix: string): string | null {
  if (!pathname.startsWith(prefix)) return null;
  let p: string;
  try {
    p = decodeURIComponent(pathname.slice(prefix.length)).replace(/\/+$/, "");
  } catch {
    return null;
  }
  if (!/^[A-Za-z0-9._~-][A-Za-z0-9._~/-]{0,255}$/.test(p) || p.split("/").some((s) => s === "." || s === ".." || s === "")) return null;
  return p;
}

/** A path's segments URL-encoded one by one ("live/my cam" -> "live/my%20cam"). */
export function encodePath(p: string): string {
  return p.split("/").map(encodeURIComponent).join("/");
}
