// The page configuration the node renders into <meta name="slowdrip-config"> (JSON): ICE servers for peer connections.

/** What the node tells its pages. */
export interface PageConfig {
  /** STUN/TURN servers (mediamtx.webrtc_ice_servers), for WebRTC between browsers and to MediaMTX. */
  iceServers: RTCIceServer[];
}

/** Reads the page configuration (defaults when the meta tag is missing or malformed). */
export function pageConfig(): PageConfig {
  const raw = document.querySelector<HTMLMetaElement>('meta[name="slowdrip-config"]')?.content ?? "{}";
  try {
    const j = JSON.parse(raw) as Partial<PageConfig>;
    return { iceServers: Array.isArray(j.iceServers) ? j.iceServers.slice(0, 16) : [] };
  } catch {
    return { iceServers: [] };
  }
}
