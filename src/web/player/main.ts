// Entry of /watch/<path>: HLS with P2P (default) or WHEP (?webrtc=1); options from the page URL.
import { el, pathAfter } from "../dom.ts";
import { pageConfig } from "../config.ts";
import { startPlayer } from "./app.ts";
import { startWhep } from "./whep.ts";

const root = document.getElementById("app")!;
const path = pathAfter(location.pathname, "/watch/");
const q = new URLSearchParams(location.search);
if (path === null) {
  root.append(el("p", { id: "state", "data-state": "refused" }, "Not a stream path: /watch/<path>"));
} else if (q.get("webrtc") === "1") {
  void startWhep(root, path);
} else {
  const creator = q.get("creator");
  const latency = Number(q.get("latency"));
  void startPlayer(root, {
    path,
    creator: creator && /^[0-9a-f]{64}$/.test(creator) ? creator : null,
    p2p: q.get("p2p") !== "0",
    // WebCrypto exists on secure pages only (https, localhost); elsewhere the WASM BLAKE3 check is the one available.
    hash: q.get("hash") === "sha256" && globalThis.crypto?.subtle ? "sha256" : "blake3",
    ...(Number.isFinite(latency) && latency > 0 && latency <= 120 ? { latency } : {}),
    iceServers: pageConfig().iceServers,
  });
}
