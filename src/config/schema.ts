// The config schema: every key, its default, its allowed range and its documentation, in one place.
import { bool, duration, hostPort, int, list, oneOf, size, str, type Field } from "./fields.ts";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const KiB = 1024;
const HEX64 = /^[0-9a-f]{64}$/;
const LISTEN = /^$|^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/;
/** A WebRTC ICE server: [USER:PASSWORD@](stun|turn|turns):HOST[:PORT][?transport=udp|tcp]. */
export const ICE_SERVER = /^(?:([^:@\s]{1,128}):([^@\s]{1,128})@)?((?:stun|turns?):[A-Za-z0-9.\-[\]:]{1,260}(?:\?transport=(?:udp|tcp))?)$/;
const LISTEN_DOC = 'empty, or [HOST]:PORT (e.g. ":1935", "127.0.0.1:8554")';

/**
 * Every config key, named `section.key` (env `SLOWDRIP_SECTION_KEY`). Defaults here are the only defaults:
 * `configs/slowdrip.yaml` is tested to equal them.
 */
export const schema = {
  "node.data_dir": str("./data", { doc: "Directory for all node state (keypair, admin token, LMDB).", flag: "data-dir" }),
  "node.log_level": oneOf(["trace", "debug", "info", "warn", "error", "fatal", "silent"], "info", {
    doc: "Log level of the logs written to stdout.",
    flag: "log-level",
  }),
  "node.log_format": oneOf(["auto", "json", "pretty"], "auto", {
    doc: "Log lines on stdout: json (one JSON event per line, for journald and pipes), pretty (time, level, message, key fields), or auto (pretty on a terminal, else json).",
  }),
  "node.public_endpoint": str("", {
    doc: "URL peers should use to reach this node (e.g. http://203.0.113.5:8080); empty when not advertised.",
    pattern: /^$|^https?:\/\/[^\s/]+(\/[^\s]*)?$/,
    patternDoc: "empty or an http(s) URL",
  }),
  "node.operator_keys": list([], {
    doc: "Ed25519 public keys (64 lowercase hex) of operators whose signed requests count as admin calls.",
    item: (s) => {
      if (!HEX64.test(s)) throw new RangeError("not 64 lowercase hex characters");
    },
    itemDoc: "64-hex Ed25519 public keys",
  }),

  "api.listen": hostPort("127.0.0.1:8080", {
    doc: "Address of the public listener: blob reads, the /live origin, public and peer RPCs, /healthz, /readyz, JWKS. Control RPCs and /metrics are refused here.",
    flag: "listen",
  }),
  "api.admin_listen": hostPort("127.0.0.1:8081", {
    doc: "Address of the admin listener: control RPCs, /metrics and everything the public listener serves (control calls still need the admin token). Keep it off public networks.",
    flag: "admin-listen",
  }),
  "api.hooks_listen": hostPort("127.0.0.1:8082", {
    doc: "Loopback address of the hooks listener: MediaMTX's auth and segment hooks and the JWKS MediaMTX reads.",
    loopback: true,
  }),
  "api.tls_cert": str("", { doc: "PEM certificate chain for the public listener; with api.tls_key it serves HTTPS (HTTP/2 and HTTP/1.1 by ALPN). Empty: cleartext." }),
  "api.tls_key": str("", { doc: "PEM private key of api.tls_cert." }),
  "api.admin_tls_cert": str("", {
    doc: "PEM certificate chain for the admin listener; with api.admin_tls_key it serves HTTPS. Set it whenever the admin listener is off loopback: the admin token must never cross a network in cleartext.",
  }),
  "api.admin_tls_key": str("", { doc: "PEM private key of api.admin_tls_cert." }),
  "api.public_status": bool(true, { doc: "Whether NodeService.GetStatus may be called without the admin token." }),
  "api.max_message_size": size("4MiB", { doc: "Largest RPC message accepted or sent.", min: 1 * KiB, max: 64 * MiB }),
  "api.max_body_size": size("64MiB", {
    doc: "Largest plain HTTP request body the public listener accepts (413 above it). Admin uploads (PUT /blobs on the admin listener) are bounded by store.max_storage instead.",
    min: 1 * KiB,
    max: 1024 * GiB,
  }),
  "api.request_timeout": duration("5m", {
    doc: "Longest deadline a client may ask for on an RPC (connect-timeout-ms / grpc-timeout). Transfers that keep moving are not cut by it.",
    min: 1000,
    max: 86_400_000,
  }),
  "api.idle_timeout": duration("60s", {
    doc: "A connection with no request in flight (HTTP/2: no open stream) is closed after this long (HTTP/1.1 keep-alive after at most 5s), and so is an upload that receives nothing for this long.",
    min: 100,
    max: 3_600_000,
  }),
  "api.write_stall_timeout": duration("30s", {
    doc: "A response (blob read, FetchBlob, /live segment, ...) whose output makes no progress for this long is destroyed and its read slot released.",
    min: 100,
    max: 3_600_000,
  }),
  "api.max_connections_per_ip": int(64, { doc: "Most concurrent connections one remote address may hold on the public and admin listeners; 0 means no limit.", min: 0, max: 65_535 }),
  "api.max_h2_streams": int(100, { doc: "Most concurrent HTTP/2 streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS).", min: 1, max: 10_000 }),
  "api.shutdown_timeout": duration("8s", { doc: "How long SIGTERM waits for in-flight requests before closing them.", min: 100, max: 60_000 }),
  "api.max_connections": int(1024, { doc: "Most concurrent client connections.", min: 1, max: 65_535 }),

  "store.public_list": bool(false, { doc: "Whether StorageService.List and Stat answer without the admin token (and on the public listener)." }),
  "store.max_storage": size("0", { doc: "Most bytes of blob data stored; 0 means unlimited.", min: 0, max: 1024 ** 5 }),
  "store.cache_max_bytes": size("64MiB", { doc: "Memory used by the LRU of hot small blobs; 0 disables it.", min: 0, max: 16 * GiB }),
  "store.cache_max_blob": size("1MiB", { doc: "Largest blob kept in the LRU.", min: 0, max: 256 * MiB }),
  "store.gc_interval": duration("1m", {
    doc: "How often unpinned blobs idle for store.gc_grace are collected; 0 runs no timer (a full store still evicts).",
    min: 0,
    max: 86_400_000,
  }),
  "store.gc_grace": duration("1h", {
    doc: "Unpinned blobs neither stored nor read for this long are collected by the interval run.",
    min: 1000,
    max: 365 * 86_400_000,
  }),

  "tuning.store_concurrency": int(4, { doc: "Concurrent blob imports.", min: 1, max: 1024 }),
  "tuning.fetch_concurrency": int(32, { doc: "Concurrent blob reads out of the store (a response waiting on a slow client gives its slot back).", min: 1, max: 4096 }),
  "tuning.pull_concurrency": int(4, { doc: "Concurrent pulls from peers.", min: 1, max: 1024 }),
  "tuning.queue_timeout": duration("10s", { doc: "How long a caller waits for a free slot before resource_exhausted.", min: 0, max: 600_000 }),
  "tuning.max_backoff": duration("1m", { doc: "Longest wait between retries that back off exponentially (cluster registration, shard pushes).", min: 100, max: 3_600_000 }),
  "tuning.pos_concurrency": int(2, { doc: "Storage proofs computed at once; further challenges get resource_exhausted (not queued).", min: 1, max: 64 }),

  "cluster.role": oneOf(["none", "miner", "validator"], "none", {
    doc: "Cluster role: none; miner (stores shards for cluster.validator); validator (registry, epochs, placement, gateway).",
  }),
  "cluster.validator": str("", {
    doc: "Miner: the validator as <node id>@<URL> (e.g. 3f…9a@http://10.0.0.2:8080).",
    pattern: /^$|^[0-9a-f]{64}@https?:\/\/[^\s/]+(\/[^\s]*)?$/,
    patternDoc: "empty or <64-hex node id>@<http(s) URL>",
  }),
  "cluster.family": str("", {
    doc: "Miner: failure domain (rack, site, power feed); no two shards of a stripe share one. Empty: the node's own id.",
    pattern: /^$|^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    patternDoc: "empty or 1-64 letters, digits, '.', '_', '-'",
  }),
  "cluster.families": list([], {
    doc: "Validator: the families miners may register in; empty allows any.",
    item: (s) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(s)) throw new RangeError("not 1-64 letters, digits, '.', '_', '-'");
    },
    itemDoc: "family names",
  }),
  "cluster.allow_family_reuse": bool(false, { doc: "Validator: place two shards of a stripe in one family when there are too few families (otherwise placement fails and says so)." }),
  "cluster.pg_count": int(16384, { doc: "Validator: placement groups files hash to.", min: 1, max: 1_048_576 }),
  "cluster.data_shards": int(4, { doc: "Validator: k, data shards per stripe (Reed-Solomon).", min: 1, max: 64 }),
  "cluster.parity_shards": int(2, { doc: "Validator: m, parity shards per stripe; any k of the k + m rebuild it.", min: 1, max: 32 }),
  "cluster.stripe_size": size("4MiB", { doc: "Validator: file bytes per stripe (each shard holds stripe_size / k).", min: 4 * KiB, max: 64 * MiB }),
  "cluster.max_file_size": size("16GiB", { doc: "Validator: largest file PutFile accepts.", min: 1, max: 1024 * GiB }),
  "cluster.push_concurrency": int(8, { doc: "Validator: shard pushes in flight during one upload.", min: 1, max: 256 }),
  "cluster.push_retries": int(3, { doc: "Validator: extra attempts per shard push, with exponential back-off.", min: 0, max: 20 }),
  "cluster.member_timeout": duration("30s", { doc: "Validator: a member without a heartbeat for this long is down, and a new epoch begins.", min: 500, max: 86_400_000 }),
  "cluster.epoch_history": int(16, { doc: "Validator: how many past cluster maps are kept.", min: 1, max: 1024 }),
  "cluster.heartbeat_interval": duration("10s", { doc: "Miner: time between heartbeats.", min: 100, max: 3_600_000 }),
  "cluster.registration_retry": duration("2s", { doc: "Miner: first wait before registering again after a failure (doubles up to tuning.max_backoff).", min: 50, max: 3_600_000 }),
  "cluster.rebalance_enabled": bool(true, { doc: "Miner: pull the shards placed on it and collect orphans; validator: scan for under-replicated stripes." }),
  "cluster.rebalance_tick": duration("30s", { doc: "Miner and validator: time between rebalance passes (and health scans).", min: 100, max: 86_400_000 }),
  "cluster.epoch_lookback": int(3, { doc: "Miner: past epochs whose holders are asked for a missing shard.", min: 0, max: 64 }),
  "cluster.orphan_grace": duration("1h", { doc: "Miner: a shard no longer placed on it is deleted after this long (never the last copy, never a pinned one).", min: 0, max: 30 * 86_400_000 }),

  "mediamtx.manage": oneOf(["child", "systemd", "external", "off"], "child", {
    doc: "How MediaMTX runs: child (supervised by the node), systemd (own unit, watched), external (watched), off.",
  }),
  "mediamtx.binary": str("", { doc: "Path of the MediaMTX binary; empty looks in the installer's cache." }),
  "mediamtx.auth": oneOf(["http", "jwks"], "http", {
    doc: "http: MediaMTX asks the node's loopback hook for every publish/read; jwks: MediaMTX verifies the node's JWTs itself.",
  }),
  "mediamtx.jwks_url": str("", {
    doc: "JWKS URL for jwks mode; empty uses the node's own /.well-known/jwks.json.",
    pattern: /^$|^https?:\/\/[^\s]+$/,
    patternDoc: "empty or an http(s) URL",
  }),
  "mediamtx.api": hostPort("127.0.0.1:9997", { doc: "MediaMTX control API address (loopback)." }),
  "mediamtx.metrics": hostPort("127.0.0.1:9998", { doc: "MediaMTX Prometheus metrics address (loopback)." }),
  "mediamtx.rtmp": str(":1935", { doc: "RTMP listener; empty disables it.", pattern: LISTEN, patternDoc: LISTEN_DOC }),
  "mediamtx.rtsp": str(":8554", { doc: "RTSP listener (TCP transport); empty disables it.", pattern: LISTEN, patternDoc: LISTEN_DOC }),
  "mediamtx.srt": str(":8890", { doc: "SRT listener (UDP); empty disables it.", pattern: LISTEN, patternDoc: LISTEN_DOC }),
  "mediamtx.webrtc": str(":8889", { doc: "WebRTC WHIP/WHEP HTTP listener; empty disables it.", pattern: LISTEN, patternDoc: LISTEN_DOC }),
  "mediamtx.webrtc_udp": str(":8189", { doc: "WebRTC ICE UDP listener (needed when WebRTC is on).", pattern: LISTEN, patternDoc: LISTEN_DOC }),
  "mediamtx.webrtc_additional_hosts": list([], {
    doc: "Public IPs or host names MediaMTX advertises as WebRTC ICE candidates (an edge box behind NAT names its public address here).",
    item: (s) => {
      if (!/^[A-Za-z0-9.:-]{1,253}$/.test(s)) throw new RangeError("not an IP address or host name");
    },
    itemDoc: "IP addresses or host names",
    maxItems: 16,
  }),
  "mediamtx.webrtc_ice_servers": list([], {
    doc: "STUN/TURN servers for WebRTC, as URL or USER:PASSWORD@URL (e.g. stun:stun.example.com:3478, alice:secret@turn:turn.example.com:3478?transport=udp); MediaMTX uses them and hands them to browsers.",
    item: (s) => {
      if (!ICE_SERVER.test(s)) throw new RangeError("not [USER:PASSWORD@](stun|turn|turns):HOST[:PORT][?transport=udp|tcp]");
    },
    itemDoc: "[USER:PASSWORD@](stun|turn|turns):HOST[:PORT] URLs",
    maxItems: 16,
  }),
  "mediamtx.hls": str("", { doc: "MediaMTX's own HLS listener (the node serves the signed origin at /live/); empty disables it.", pattern: LISTEN, patternDoc: LISTEN_DOC }),
  "mediamtx.record_dir": str("", {
    doc: "Absolute directory where MediaMTX writes finished segments for the node; empty: /var/lib/mediamtx-slowdrip/segments with manage systemd, else <data_dir>/mediamtx/segments.",
    pattern: /^$|^\/[^%\n]*$/,
    patternDoc: "empty or an absolute path without %",
  }),
  "mediamtx.segment_duration": duration("2s", { doc: "Target segment length; segments are cut at the next key frame after it.", min: 500, max: 60_000 }),
  "live.window_segments": int(12, { doc: "Segments listed in each live manifest and playlist; older ones are unpinned.", min: 1, max: 2048 }),
  "live.open_read_paths": list([], { doc: "MediaMTX paths anyone may read without a token (exact names, or ~regex).", itemDoc: "path names or ~regex" }),
  "live.keep_recording": list([], { doc: "Paths whose segments stay pinned after leaving the live window (exact names, or ~regex).", itemDoc: "path names or ~regex" }),
  "live.delegation": str("", { doc: "File with the creator's delegation (slowdrip creator delegate); empty: the node key acts as the creator." }),
  "live.announce_dir": str("", { doc: "Directory of creator-signed STREAM_ANNOUNCE files (slowdrip creator announce), used with live.delegation." }),
  "live.trackers": list([], { doc: "WebTorrent tracker URLs named in STREAM_ANNOUNCE.", itemDoc: "tracker URLs" }),
  "web.tracker": bool(true, { doc: "Serve the WebTorrent tracker at /tracker (WebSocket) on the public listener, for the browser player's P2P swarms." }),
  "web.tracker_max_peers": int(64, { doc: "Most peers one tracker swarm holds; further announces are refused (swarm-full).", min: 2, max: 10_000 }),
  "web.tracker_max_swarms": int(8, { doc: "Most tracker swarms per stream path (p2p-media-loader uses one per rendition and stream type).", min: 1, max: 256 }),
  "web.tracker_max_message": size("64KiB", { doc: "Largest tracker WebSocket message; a larger one closes the connection.", min: 4 * KiB, max: 1 * MiB }),
  "proofs.wardens": list([], {
    doc: "Node ids (64 lowercase hex) allowed to send storage challenges, besides the cluster map's validator and wardens.",
    item: (s) => {
      if (!HEX64.test(s)) throw new RangeError("not 64 lowercase hex characters");
    },
    itemDoc: "64-hex node ids",
  }),
  "proofs.challenge_interval": duration("10m", { doc: "How often a warden challenges random (member, shard) pairs.", min: 1000, max: 7 * 86_400_000 }),
  "proofs.challenges_per_round": int(8, { doc: "(member, shard) pairs a warden challenges per interval, drawn in proportion to stored bytes.", min: 1, max: 1024 }),
  "proofs.chunks": int(16, { doc: "1 KiB chunks a storage challenge asks for (the final chunk is always added).", min: 1, max: 64 }),
  "proofs.deadline": duration("30s", { doc: "Time a miner has to answer a storage challenge; later counts as a timeout.", min: 100, max: 600_000 }),
  "proofs.settle_grace": duration("2h", {
    doc: "Validator's warden: time a member has to pull a shard newly placed on it before it is challenged for it (sooner once it reports a complete rebalance).",
    min: 1000,
    max: 30 * 86_400_000,
  }),
  "proofs.max_failures": int(3, { doc: "Failed or timed-out storage proofs within proofs.failure_window that mark a miner faulty.", min: 1, max: 1000 }),
  "proofs.failure_window": duration("1h", { doc: "Window in which proofs.max_failures failures mark a miner faulty.", min: 1000, max: 30 * 86_400_000 }),
  "proofs.presence_epoch": duration("10m", { doc: "Presence epoch: each node proves presence once per epoch, at an offset its VRF output sets.", min: 2000, max: 86_400_000 }),
  "proofs.presence_verifier": bool(false, { doc: "Serve PresenceService as the presence verifier (the validator's role; set it on the verifying node)." }),
  "proofs.presence_target": str("", {
    doc: "Verifier to prove presence to, as <node id>@<url> (e.g. the validator); empty: no presence agent.",
    pattern: /^$|^[0-9a-f]{64}@https?:\/\/[^\s/]+(\/[^\s]*)?$/,
    patternDoc: "empty or <64-hex node id>@<http(s) URL>",
  }),
  "proofs.receipt_batch": int(256, { doc: "Service receipts per Merkle batch (a batch is also sealed every proofs.receipt_batch_interval).", min: 1, max: 65_536 }),
  "proofs.receipt_batch_interval": duration("30s", { doc: "Longest time an accepted receipt waits before its batch is sealed.", min: 100, max: 86_400_000 }),
  "pay.enabled": bool(false, { doc: "Charge for blob and segment reads (HTTP 402 / NUT-24); when false every read is free." }),
  "pay.trusted_mints": list([], {
    doc: "Cashu mints (http(s) URLs) whose tokens are accepted and that the wallet may receive from or swap into.",
    item: (s) => {
      if (!/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(s)) throw new RangeError("not an http(s) URL");
    },
    itemDoc: "http(s) mint URLs",
  }),
  "pay.pricing.content_download": int(1, { doc: "Sats per MiB of blob reads (service content-download).", min: 0, max: 1_000_000_000 }),
  "pay.pricing.relay_bandwidth": int(1, { doc: "Sats per MiB of relayed bytes (service relay-bandwidth).", min: 0, max: 1_000_000_000 }),
  "pay.pricing.live_view": int(1, { doc: "Sats per minute of live viewing (service live-view).", min: 0, max: 1_000_000_000 }),
  "pay.pricing.content_upload": int(1, {
    doc: "Sats per MiB of Blossom uploads by pubkeys that may not upload free (service content-upload, BUD-07); 0: such uploads are refused.",
    min: 0,
    max: 1_000_000_000,
  }),
  "pay.free_allowance": size("0", { doc: "Bytes each client may read free per UTC day before paying; 0 means none.", min: 0, max: 1024 ** 4 }),
  "pay.free_peers": list([], {
    doc: "Node ids (64 lowercase hex Ed25519 keys) whose signed requests are free.",
    item: (s) => {
      if (!HEX64.test(s)) throw new RangeError("not 64 lowercase hex characters");
    },
    itemDoc: "64-hex node ids",
  }),
  "pay.free_paths": list([], {
    doc: "Path prefixes that are always free (e.g. /live/updates/).",
    item: (s) => {
      if (!s.startsWith("/")) throw new RangeError("must start with /");
    },
    itemDoc: "path prefixes starting with /",
  }),
  "pay.session_default": size("64MiB", { doc: "Allotment sold when a client asks for a session without naming a size.", min: 1, max: 1024 ** 4 }),
  "pay.session_max": size("16GiB", { doc: "Largest allotment one payment may buy.", min: 1, max: 1024 ** 4 }),
  "pay.session_ttl": duration("24h", { doc: "Idle byte sessions expire after this long.", min: 60_000, max: 30 * 86_400_000 }),
  "pay.live_view_minutes": int(10, { doc: "Minutes of live viewing sold when a client names none.", min: 1, max: 10_080 }),
  "pay.header_max": size("8KiB", { doc: "Largest X-Cashu / session header accepted.", min: 1 * KiB, max: 64 * KiB }),

  "blossom.enabled": bool(true, {
    doc: "Serve the Blossom routes on the public listener: GET/HEAD /<sha256>, PUT/HEAD /upload, DELETE /<sha256>, GET /list/<pubkey>, PUT /mirror.",
  }),
  "blossom.public_url": str("", {
    doc: "Base URL of this Blossom server in blob descriptors; its host is the server name `server` tags must name. Empty: node.public_endpoint, else the request's Host.",
    pattern: /^$|^https?:\/\/[^\s/?#]+\/?$/,
    patternDoc: "empty or an http(s) origin URL (no path)",
  }),
  "blossom.allowed_pubkeys": list([], {
    doc: "Nostr public keys (64 lowercase hex) that may upload free.",
    item: (s) => {
      if (!HEX64.test(s)) throw new RangeError("not 64 lowercase hex characters");
    },
    itemDoc: "64-hex Nostr public keys",
    maxItems: 10_000,
  }),
  "blossom.open_uploads": bool(false, { doc: "Anyone with a valid authorization event may upload free (within the quotas)." }),
  "blossom.quota_per_pubkey": size("1GiB", { doc: "Most bytes of blobs one pubkey may own; 0 means no limit.", min: 0, max: 1024 ** 5 }),
  "blossom.max_blobs_per_pubkey": int(10_000, { doc: "Most blobs one pubkey may own; 0 means no limit.", min: 0, max: 100_000_000 }),
  "blossom.max_upload_size": size("64MiB", {
    doc: "Largest blob PUT /upload and PUT /mirror accept (413 above it); on the public listener api.max_body_size applies too.",
    min: 1,
    max: 1024 * GiB,
  }),
  "blossom.allowed_types": list([], {
    doc: "MIME types uploads may declare (type/subtype, or type/* for a whole type); empty: any.",
    item: (s) => {
      if (!/^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$/.test(s)) throw new RangeError("not a lowercase MIME type or type/*");
    },
    itemDoc: "MIME types",
  }),
  "blossom.mirror_hosts": list([], {
    doc: "Hosts PUT /mirror may fetch from (HOST for any port, or HOST:PORT); empty: mirroring is off.",
    item: (s) => {
      if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(s)) throw new RangeError("not a host or host:port");
    },
    itemDoc: "hosts or host:port",
  }),
  "blossom.mirror_timeout": duration("60s", { doc: "Longest a PUT /mirror fetch from the origin may take.", min: 1000, max: 3_600_000 }),

  "nostr.relays": list([], {
    doc: "Nostr relays (ws:// or wss:// URLs) the node publishes its adverts, live events and films to and reads film catalogs from; empty: Nostr is off (the key is still created).",
    item: (s) => {
      if (!/^wss?:\/\/[^\s/]+(\/[^\s]*)?$/.test(s)) throw new RangeError("not a ws:// or wss:// URL");
    },
    itemDoc: "ws(s) relay URLs",
    maxItems: 32,
  }),
  "nostr.timeout": duration("10s", { doc: "Longest a relay may take to accept a connection or acknowledge an event (then it is retried with back-off).", min: 100, max: 300_000 }),
  "nostr.max_event_size": size("64KiB", { doc: "Largest relay message (one event) read; larger ones are dropped unread.", min: 1 * KiB, max: 4 * MiB }),
  "nostr.max_events": int(2000, { doc: "Most events one subscription takes from one relay; a relay that sends more is cut off.", min: 1, max: 1_000_000 }),
  "nostr.seed_max_hashes": int(1000, { doc: "Most BLAKE3 hashes the kind 30081 seed advert lists.", min: 0, max: 10_000 }),
  "films.trusted_publishers": list([], {
    doc: "Creators (Ed25519 public keys, as 64 lowercase hex or did:key) whose film events GET /api/film-catalog lists; the node's own key is always trusted.",
    item: (s) => {
      if (!HEX64.test(s) && !/^did:key:z[1-9A-HJ-NP-Za-km-z]{40,60}$/.test(s)) throw new RangeError("not 64 lowercase hex characters or a did:key");
    },
    itemDoc: "Ed25519 keys (64 hex or did:key)",
    maxItems: 10_000,
  }),
  "films.refresh": duration("5m", { doc: "How often the film catalog is read again from the relays.", min: 1000, max: 86_400_000 }),
  "films.fetch_timeout": duration("20s", { doc: "Longest one holder (or the origin) may take to deliver a film blob to GET /api/film/; then the next is tried.", min: 500, max: 600_000 }),
  "films.range_size": size("4MiB", { doc: "Film blobs larger than this are fetched by GET /api/film/ in verified ranges (Bao slices) of this size, in parallel across holders.", min: 64 * KiB, max: 16 * MiB }),
  "films.range_parallel": int(4, { doc: "Most ranges of one film blob fetched at once (each held in memory until it is stored).", min: 1, max: 16 }),
  "films.relay": bool(false, { doc: "Serve the single-hop paid relay (GET /relay/<blake3>, RelayService.Fetch) of blobs a trusted film names, metered as relay-bandwidth, and advertise it in the kind 10021 event." }),
  "films.relay_session_bytes": size("256MiB", { doc: "Most bytes the relay carries for one payment session (or one request without a session) per hour.", min: 64 * KiB, max: 64 * GiB }),
  "films.relay_peer_bytes": size("1GiB", { doc: "Most bytes the relay carries for one peer (node id or address) per hour.", min: 64 * KiB, max: 1024 * GiB }),
  "films.relay_via": list([], {
    doc: "Relays (http(s) endpoints of nodes with films.relay on) GET /api/film/ fetches a film blob through, paying relay-bandwidth, when no holder or origin delivered it.",
    item: (s) => {
      if (!/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(s)) throw new RangeError("not an http(s) URL");
    },
    itemDoc: "http(s) relay endpoints",
    maxItems: 16,
  }),
  "films.relay_only": bool(false, { doc: "Fetch film blobs only through films.relay_via, never from holders or origins directly (a node that reaches the network through its relay)." }),
  "films.max_price_per_mib": int(10, { doc: "Most sats per MiB the node pays a holder that answers 402 for a film blob.", min: 0, max: 1_000_000_000 }),
  "films.budget": int(1000, { doc: "Most sats one film blob fetch may spend (price plus swap fees).", min: 0, max: 1_000_000_000 }),
  "films.max_swap_fee": int(10, { doc: "Most sats of fees a cross-mint swap for one film blob may cost.", min: 0, max: 1_000_000_000 }),
  "films.renditions": list(["720p:1280x720:2500", "360p:640x360:800"], {
    doc: "Renditions `slowdrip film add` makes, as NAME:WIDTHxHEIGHT:KBITS (video bitrate in kbit/s), best first.",
    item: (s) => {
      if (!/^[A-Za-z0-9_.-]{1,32}:\d{2,5}x\d{2,5}:\d{2,6}$/.test(s)) throw new RangeError("not NAME:WIDTHxHEIGHT:KBITS");
    },
    itemDoc: "NAME:WIDTHxHEIGHT:KBITS renditions",
    maxItems: 8,
  }),
  "films.segment_duration": duration("4s", { doc: "Target length of the HLS segments `slowdrip film add` cuts.", min: 1000, max: 30_000 }),
  "films.ffmpeg": str("ffmpeg", { doc: "The ffmpeg executable `slowdrip film add` runs (ffprobe is looked for beside it)." }),
  "films.max_entries": int(10_000, { doc: "Most films the catalog keeps (newest first); further events are ignored.", min: 1, max: 1_000_000 }),
  "update.trusted_keys": list([], {
    doc: "Ed25519 public keys (64 lowercase hex) whose signature `slowdrip update apply` accepts on an update bundle; empty: every update is refused.",
    item: (s) => {
      if (!HEX64.test(s)) throw new RangeError("not 64 lowercase hex characters");
    },
    itemDoc: "64-hex Ed25519 public keys",
    maxItems: 16,
  }),
  "update.health_timeout": duration("5m", {
    doc: "Time a freshly updated system has for the node's /readyz to turn green before the boot counts as failed and the next boot returns to the previous slot.",
    min: 10_000,
    max: 3_600_000,
  }),
} as const satisfies Record<string, Field<unknown>>;

/** A config key such as "api.listen". */
export type ConfigKey = keyof typeof schema;

/** The value type of a config key. */
export type ConfigValue<K extends ConfigKey> = (typeof schema)[K] extends Field<infer T> ? T : never;

/** The effective config: every key with its typed value. */
export type Config = { readonly [K in ConfigKey]: ConfigValue<K> };

/** Env variable name of a key: "api.listen" -> "SLOWDRIP_API_LISTEN". */
export function envName(key: string): string {
  return `SLOWDRIP_${key.replace(/\./g, "_").toUpperCase()}`;
}

/** Every key in schema order. */
export const configKeys = Object.keys(schema) as ConfigKey[];

/** The built-in defaults as a Config. */
export function defaults(): Config {
  const out: Record<string, unknown> = {};
  for (const k of configKeys) out[k] = structuredClone(schema[k].default);
  return out as Config;
}
