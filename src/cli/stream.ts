// `slowdrip stream verify URL --creator KEY`: checks a live stream's signatures, delegation, Merkle root and segment hashes.
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import { verifyStream } from "../stream/verify.ts";
import { tlsTrust, trustedFetch } from "./tls.ts";
import { runWatch, watchUsage } from "./watch.ts";

/** The stream directory of a URL naming it or one of its files (index.m3u8, manifest.json, announce.json). */
export function streamBaseUrl(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new CliError(`'${u}' is not a URL`, 2);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`'${u}' is not an http(s) URL`, 2);
  url.search = "";
  url.hash = "";
  if (/\/(index\.m3u8|manifest\.json|announce\.json)$/.test(url.pathname)) url.pathname = url.pathname.replace(/[^/]+$/, "");
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url.href;
}

export const streamCommand: Command = {
  name: "stream",
  usage: [
    "usage: slowdrip stream verify URL --creator PUBKEY [--segments N] [--json] [--ca FILE] [--fingerprint SHA256]",
    "",
    "URL is the stream's origin directory, e.g. http://node:8080/live/cam/ (or its index.m3u8 / manifest.json).",
    "Fetches announce.json, manifest.json, index.m3u8 and the newest N listed segments (default all), checks every",
    "signature against the creator key, the delegation window, the Merkle root and each segment's BLAKE3 and SHA-256.",
    "Exits 0 when all hold; otherwise exits 1 naming the first failure (e.g. 'segment-blake3: ...').",
    "For https:// URLs, --ca FILE (env SLOWDRIP_CA) trusts a PEM certificate, --fingerprint SHA256 (env",
    "SLOWDRIP_FINGERPRINT) exactly the certificate with that fingerprint.",
    watchUsage,
  ].join("\n"),
  async run(argv, io) {
    if (argv[0] === "watch") {
      const url = argv[1];
      if (url === undefined || url.startsWith("-")) throw new CliError("expected: slowdrip stream watch URL --creator PUBKEY", 2);
      return runWatch(streamBaseUrl(url), argv.slice(2), io);
    }
    const { values, positionals } = parseArgs({
      args: argv,
      options: { creator: { type: "string" }, segments: { type: "string" }, json: { type: "boolean", default: false }, ca: { type: "string" }, fingerprint: { type: "string" } },
      allowPositionals: true,
    });
    if (positionals[0] !== "verify" || positionals.length !== 2) throw new CliError("expected: slowdrip stream verify URL --creator PUBKEY", 2);
    if (!values.creator || !/^[0-9a-f]{64}$/.test(values.creator)) throw new CliError("--creator must be the creator's public key (64 lowercase hex)", 2);
    let segments: number | undefined;
    if (values.segments !== undefined) {
      segments = Number(values.segments);
      if (!Number.isInteger(segments) || segments < 0 || segments > 100_000) throw new CliError("--segments must be an integer 0-100000", 2);
    }
    const base = streamBaseUrl(positionals[1]!);
    const report = await verifyStream(base, { creator: values.creator, fetch: trustedFetch(tlsTrust(values, io.env, io.cwd)), ...(segments !== undefined ? { segments } : {}) });
    if (values.json) io.stdout.write(`${JSON.stringify(report)}\n`);
    if (!report.ok) throw new CliError(`${report.failure!.code}: ${report.failure!.message}`);
    if (!values.json) {
      io.stdout.write(`ok: stream '${report.stream}' manifest v${report.manifestVersion}, ${report.count} segments, root ${report.root}, ${report.segmentsChecked} segments hashed\n`);
    }
    return 0;
  },
};
