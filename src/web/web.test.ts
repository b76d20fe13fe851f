// Pure parts of the browser code, run in Node: tracker URLs, WHIP/WHEP Link headers, segment names, page paths.
import { describe, expect, it } from "vitest";
import { encodePath, pathAfter } from "./dom.ts";
import { trackersFor } from "./player/trackers.ts";
import { segmentHashOf } from "./player/trust.ts";
import { parseIceLinks } from "./webrtc.ts";

const H = "ab".repeat(32);

describe("browser helpers", () => {
  it("announces to the announce's WebSocket trackers, else to this node's, always naming the stream", () => {
    expect(trackersFor([], "live/x", "http://10.0.0.1:8080")).toEqual(["ws://10.0.0.1:8080/tracker?path=live%2Fx"]);
    expect(trackersFor([], "live/x", "https://edge.example")).toEqual(["wss://edge.example/tracker?path=live%2Fx"]);
    expect(trackersFor(["udp://old.example:80", "not a url", "wss://t.example/announce", "wss://t2.example/tracker?path=other"], "live/x", "http://n")).toEqual([
      "wss://t.example/announce?path=live%2Fx",
      "wss://t2.example/tracker?path=other",
    ]);
    expect(trackersFor(Array.from({ length: 20 }, (_, i) => `wss://t${i}.example/`), "a", "http://n")).toHaveLength(8);
  });

  it("reads ICE servers from MediaMTX's Link headers, credentials included, and ignores anything else", () => {
    const links = [
      '<stun:stun.example.com:3478>; rel="ice-server"',
      '<turn:turn.example.com:3478?transport=udp>; rel="ice-server"; username="alice"; credential="s\\"cret"; credential-type="password"',
      '<https://evil.example/>; rel="ice-server"',
      '</whip/x>; rel="next"',
    ].join(", ");
    expect(parseIceLinks(links)).toEqual([
      { urls: "stun:stun.example.com:3478" },
      { urls: "turn:turn.example.com:3478?transport=udp", username: "alice", credential: 's"cret' },
    ]);
    expect(parseIceLinks(null)).toEqual([]);
    expect(parseIceLinks(Array.from({ length: 40 }, (_, i) => `<stun:s${i}.example>; rel="ice-server"`).join(", "))).toHaveLength(16);
  });

  it("names segments only by a 64-hex BLAKE3 .ts file", () => {
    expect(segmentHashOf(`http://n/live/x/${H}.ts`)).toBe(H);
    expect(segmentHashOf(`/live/x/${H}.ts?x=1`)).toBe(H);
    expect(segmentHashOf(`http://n/live/x/${H.toUpperCase()}.ts`)).toBeNull();
    expect(segmentHashOf(`http://n/live/x/${H}.mp4`)).toBeNull();
    expect(segmentHashOf("http://n/live/x/index.m3u8")).toBeNull();
  });

  it("reads stream paths from page URLs and refuses dot segments and junk", () => {
    expect(pathAfter("/watch/live/x", "/watch/")).toBe("live/x");
    expect(pathAfter("/watch/live/my%20cam", "/watch/")).toBeNull();
    expect(pathAfter("/watch/live/a.b~c-d", "/watch/")).toBe("live/a.b~c-d");
    for (const bad of ["/watch/", "/watch/../x", "/watch/live//x", "/watch/live/%ZZ", "/publish/x"]) expect(pathAfter(bad, "/watch/"), bad).toBeNull();
    expect(encodePath("live/a b")).toBe("live/a%20b");
  });
});
