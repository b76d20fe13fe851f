// WHIP/WHEP in the browser, through the node's /webrtc/<path>/whip|whep proxy to MediaMTX: ICE servers from the
// Link headers of an OPTIONS request, one SDP offer/answer after ICE gathering, DELETE of the session on close.
import { encodePath } from "./dom.ts";

/** A refused or failed WHIP/WHEP exchange: the HTTP status and MediaMTX's or the node's reason. */
export class WebRtcError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "WebRtcError";
    this.status = status;
  }
}

/** Parses `Link: <stun:...>; rel="ice-server"; username="u"; credential="c"` values into ICE servers. */
export function parseIceLinks(values: string | null): RTCIceServer[] {
  if (!values) return [];
  const out: RTCIceServer[] = [];
  // Links are comma-separated; a comma never appears inside <...> of a STUN/TURN URL.
  for (const link of values.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]+)>(.*)$/.exec(link);
    if (!m || !/;\s*rel="ice-server"/.test(m[2]!)) continue;
    const url = m[1]!;
    if (!/^(stun|turns?):/.test(url)) continue;
    const attr = (name: string) => {
      const a = new RegExp(`;\\s*${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(m[2]!);
      return a ? a[1]!.replace(/\\(.)/g, "$1") : undefined;
    };
    const username = attr("username");
    const credential = attr("credential");
    out.push(username !== undefined ? { urls: url, username, credential: credential ?? "" } : { urls: url });
    if (out.length >= 16) break;
  }
  return out;
}

/** The proxy URL of a path's WHIP ("publish") or WHEP ("read") endpoint on this page's node. */
export function endpointOf(path: string, kind: "whip" | "whep"): string {
  return `/webrtc/${encodePath(path)}/${kind}`;
}

const bearer = (token: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

async function failure(r: Response, what: string): Promise<WebRtcError> {
  let reason = (await r.text().catch(() => "")).slice(0, 300);
  try {
    const j = JSON.parse(reason) as { error?: string };
    if (j.error) reason = j.error;
  } catch {
    /* plain text */
  }
  const why = r.status === 401 || r.status === 403 ? "refused: no valid token for this path" : `HTTP ${r.status}`;
  return new WebRtcError(r.status, `${what} ${why}${reason ? ` (${reason})` : ""}`);
}

/** ICE servers MediaMTX hands out for the endpoint (OPTIONS; needs the same credentials as the exchange). */
export async function iceServers(url: string, token: string): Promise<RTCIceServer[]> {
  const r = await fetch(url, { method: "OPTIONS", headers: bearer(token) });
  if (r.status === 401 || r.status === 403) throw await failure(r, "OPTIONS");
  return parseIceLinks(r.headers.get("link"));
}

/** Waits until ICE gathering completes (or `ms` pass: the offer then carries what was gathered). */
function gathered(pc: RTCPeerConnection, ms: number): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** A negotiated WHIP/WHEP session. */
export interface WebRtcSession {
  pc: RTCPeerConnection;
  /** Closes the peer connection and deletes the session at MediaMTX. */
  close(): Promise<void>;
}

/**
 * Runs the WHIP/WHEP exchange for `pc` (its transceivers already added) against `url` with `token`: offer after ICE
 * gathering, POST application/sdp, answer. Throws WebRtcError naming the refusal.
 */
export async function negotiate(url: string, pc: RTCPeerConnection, token: string): Promise<WebRtcSession> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 3000);
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/sdp", ...bearer(token) },
    body: pc.localDescription!.sdp,
  });
  if (r.status !== 201) {
    pc.close();
    throw await failure(r, "WHIP/WHEP offer");
  }
  const location = r.headers.get("location");
  await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
  return {
    pc,
    async close() {
      pc.close();
      if (location) await fetch(new URL(location, window.location.href), { method: "DELETE", headers: bearer(token) }).catch(() => {});
    },
  };
}
