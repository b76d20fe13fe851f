// Entry of /publish/<path>: the camera and microphone published by WHIP with a publish token, H.264 preferred (the
// node records MPEG-TS segments and signs them like an RTMP publish).
import { el, pathAfter } from "../dom.ts";
import { pageToken, tokenForm } from "../token.ts";
import { endpointOf, iceServers, negotiate, WebRtcError, type WebRtcSession } from "../webrtc.ts";

const root = document.getElementById("app")!;
const path = pathAfter(location.pathname, "/publish/");

/** Puts H.264 first in a video transceiver's codec list (MPEG-TS recording needs it); false when unsupported. */
function preferH264(t: RTCRtpTransceiver): boolean {
  const caps = RTCRtpSender.getCapabilities("video")?.codecs ?? [];
  const h264 = caps.filter((c) => c.mimeType.toLowerCase() === "video/h264");
  if (h264.length === 0 || typeof t.setCodecPreferences !== "function") return false;
  t.setCodecPreferences([...h264, ...caps.filter((c) => c.mimeType.toLowerCase() !== "video/h264")]);
  return true;
}

async function publish(p: string): Promise<void> {
  const status = el("p", { id: "state", class: "state", "data-state": "idle" }, "not publishing");
  const preview = el("video", { id: "preview", autoplay: true, muted: true, playsinline: true });
  preview.muted = true;
  const start = el("button", { id: "start", type: "button" }, "Start publishing");
  const stop = el("button", { id: "stop", type: "button", disabled: true }, "Stop");
  const form = el("div");
  root.append(el("h1", {}, `Publish ${p}`), status, preview, el("p", {}, start, " ", stop), form);
  let session: WebRtcSession | null = null;
  let media: MediaStream | null = null;

  const go = async (token: string) => {
    start.disabled = true;
    status.dataset.state = "connecting";
    status.textContent = "connecting by WebRTC (WHIP)...";
    try {
      if (!navigator.mediaDevices) {
        throw new Error(`the browser gives the camera only to secure pages: open this page over https:// (set api.tls_cert) or on localhost, not ${location.origin}`);
      }
      media ??= await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 30 }, audio: true });
      preview.srcObject = media;
      const url = endpointOf(p, "whip");
      const pc = new RTCPeerConnection({ iceServers: await iceServers(url, token) });
      for (const track of media.getTracks()) {
        const t = pc.addTransceiver(track, { direction: "sendonly", streams: [media] });
        if (track.kind === "video" && !preferH264(t)) status.textContent = "this browser cannot send H.264; the node may not record the stream";
      }
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "connected") {
          status.dataset.state = "publishing";
          status.textContent = `publishing ${p}`;
        } else if (pc.connectionState === "failed" || pc.connectionState === "disconnected") {
          status.dataset.state = "error";
          status.textContent = `WebRTC ${pc.connectionState}`;
        }
      };
      session = await negotiate(url, pc, token);
      form.replaceChildren();
      stop.disabled = false;
    } catch (e) {
      const refused = e instanceof WebRtcError && (e.status === 401 || e.status === 403);
      status.dataset.state = refused ? "refused" : "error";
      status.textContent = (e as Error).message;
      start.disabled = false;
      if (refused) form.replaceChildren(tokenForm("publish", p, (t) => void go(t)));
    }
  };
  start.addEventListener("click", () => void go(pageToken(p)));
  stop.addEventListener("click", () => {
    void session?.close();
    session = null;
    stop.disabled = true;
    start.disabled = false;
    status.dataset.state = "idle";
    status.textContent = "stopped";
  });
  window.addEventListener("pagehide", () => void session?.close());
  if (!pageToken(p)) form.replaceChildren(tokenForm("publish", p, (t) => void go(t)));
}

if (path === null) root.append(el("p", { id: "state", "data-state": "refused" }, "Not a stream path: /publish/<path>"));
else void publish(path);
