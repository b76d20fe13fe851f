// Which WebTorrent trackers the player announces to.

/**
 * The tracker URLs for a stream: the announce's ws:// and wss:// trackers (at most 8), else this node's own at
 * `<origin>/tracker`; each gets ?path=<stream> (the node's tracker admits only streams it carries).
 */
export function trackersFor(announced: readonly string[], path: string, origin: string): string[] {
  const parsed = announced.flatMap((t) => {
    try {
      const u = new URL(t);
      return u.protocol === "ws:" || u.protocol === "wss:" ? [u] : [];
    } catch {
      return [];
    }
  });
  const list = parsed.length > 0 ? parsed.slice(0, 8) : [new URL("/tracker", origin.replace(/^http/, "ws"))];
  return list.map((u) => {
    if (!u.searchParams.has("path")) u.searchParams.set("path", path);
    return u.href;
  });
}
