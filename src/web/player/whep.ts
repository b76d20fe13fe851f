// Low-latency playback by WHEP (/watch/<path>?webrtc=1): MediaMTX's WebRTC through the node's proxy and auth.
import { el } from "../dom.ts";
import { endpointOf, iceServers, negotiate, WebRtcError, type WebRtcSession } from "../webrtc.ts";
import { pageToken, tokenForm } from "../token.ts";

/** Plays `path` by WHEP into a new video element under `root`; the status element says what happened. */
export async function startWhep(root: HTMLElement, path: string): Promise<void> {
  const status = el("p", { id: "state", class: "state", "data-state": "connecting" }, "connecting by WebRTC (WHEP)...");
  const video = el("video", { id: "video", autoplay: true, muted: true, playsinline: true, controls: true });
  video.muted = true;
  const form = el("div");
  root.append(el("h1", {}, `${path} `, el("small", {}, "WebRTC")), status, video, form);
  let session: WebRtcSession | null = null;
  let frames = 0;
  const countFrames = () => {
    frames++;
    status.dataset.frames = String(frames);
    video.requestVideoFrameCallback(countFrames);
  };
  video.requestVideoFrameCallback(countFrames);

  const connect = async (token: string) => {
    const url = endpointOf(path, "whep");
    try {
      const pc = new RTCPeerConnection({ iceServers: await iceServers(url, token) });
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      const stream = new MediaStream();
      pc.ontrack = (e) => {
        stream.addTrack(e.track);
        video.srcObject = stream;
      };
      pc.onconnectionstatechange = () => {
        status.dataset.state = pc.connectionState;
        status.textContent = `WebRTC ${pc.connectionState}`;
      };
      session = await negotiate(url, pc, token);
      form.replaceChildren();
    } catch (e) {
      const refused = e instanceof WebRtcError && (e.status === 401 || e.status === 403);
      status.dataset.state = refused ? "refused" : "error";
      status.textContent = (e as Error).message;
      if (refused) form.replaceChildren(tokenForm("read", path, (t) => void connect(t)));
    }
  };
  window.addEventListener("pagehide", () => void session?.close());
  await connect(pageToken(path));
}
