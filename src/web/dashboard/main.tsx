// The dashboard at / of the admin listener (Preact): status and readiness, live paths with readers and bitrate, ingest
// latency, sessions, storage, earnings (chart, ledger, wallet per mint) and cluster membership. Public panels work
// without the admin token; admin panels ask for it (kept in sessionStorage) and say when it is refused.
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { bytes } from "../dom.ts";
import { EarningsChart } from "./chart.tsx";
import {
  absent,
  admin,
  adminToken,
  n,
  pub,
  refusedToken,
  setAdminToken,
  type BlobJson,
  type ClusterJson,
  type LatencyJson,
  type LedgerEntryJson,
  type LiveSessionJson,
  type MintBalanceJson,
  type PaidSessionJson,
  type PathsJson,
  type StatusJson,
} from "./api.ts";

/** The state of a polled call. */
interface Polled<T> {
  data: T | null;
  error: unknown;
}

/** Seconds between refreshes (?every=N; 0 refreshes only on the Refresh button). */
const EVERY = (() => {
  const v = Number(new URLSearchParams(location.search).get("every") ?? "2");
  return Number.isFinite(v) && v >= 0 && v <= 3600 ? v : 2;
})();

/** Calls in flight, shown on the Refresh button (data-pending) so that a reader knows when the panels are current. */
let inFlight = 0;
const inFlightListeners = new Set<(n: number) => void>();
function track<T>(p: Promise<T>): Promise<T> {
  const bump = (d: number) => {
    inFlight += d;
    for (const l of inFlightListeners) l(inFlight);
  };
  bump(1);
  return p.finally(() => bump(-1));
}
function useInFlight(): number {
  const [n, set] = useState(inFlight);
  useEffect(() => {
    inFlightListeners.add(set);
    return () => void inFlightListeners.delete(set);
  }, []);
  return n;
}

/** Calls `f` now, every `ms` times the refresh period (unless refreshes are manual), and whenever `key` changes. */
function usePoll<T>(f: () => Promise<T>, ms: number, key: unknown = 0): Polled<T> {
  const [s, set] = useState<Polled<T>>({ data: null, error: null });
  useEffect(() => {
    let live = true;
    const tick = () =>
      track(
        f().then(
          (data) => live && set({ data, error: null }),
          (error: unknown) => live && set((o) => ({ data: refusedToken(error) ? null : o.data, error })),
        ),
      );
    void tick();
    const t = EVERY > 0 ? setInterval(tick, (ms * EVERY) / 2) : undefined;
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [key]);
  return s;
}

const ago = (ms: number) => {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
};
const bits = (bps: number) => (bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mbit/s` : `${(bps / 1e3).toFixed(0)} kbit/s`);

/** What an admin panel shows instead of its content when the token is missing or refused. */
function Gate({ error, children }: { error: unknown; children: preact.ComponentChildren }) {
  if (error && refusedToken(error)) {
    return (
      <p class="refused" data-admin="refused">
        {adminToken() ? "The admin token was refused." : "Enter the admin token to see this panel."}
      </p>
    );
  }
  if (error) return <p class="hint">{String((error as Error).message ?? error)}</p>;
  return <>{children}</>;
}

function TokenBar({ onChange, refused }: { onChange: () => void; refused: boolean }) {
  const input = useRef<HTMLInputElement>(null);
  const have = adminToken() !== "";
  return (
    <form
      id="admin-token"
      class="token"
      data-state={!have ? "none" : refused ? "refused" : "ok"}
      onSubmit={(e) => {
        e.preventDefault();
        setAdminToken(input.current?.value.trim() ?? "");
        if (input.current) input.current.value = "";
        onChange();
      }}
    >
      <label for="token">Admin token ({"<data_dir>/admin.token"}): </label>
      <input id="token" ref={input} type="password" autocomplete="off" size={40} />
      <button type="submit">{have ? "Replace" : "Use"}</button>
      {have && (
        <button
          type="button"
          onClick={() => {
            setAdminToken("");
            onChange();
          }}
        >
          Forget
        </button>
      )}
      <span class={refused ? "refused" : "hint"}>{!have ? " public panels only" : refused ? " refused by the node" : " admin panels open"}</span>
    </form>
  );
}

function StatusPanel({ s }: { s: StatusJson | null }) {
  if (!s) return <section id="status"><h2>Status</h2><p class="hint">loading...</p></section>;
  return (
    <section id="status" data-ready={String(!!s.ready)}>
      <h2>Status {s.ready ? <span class="ok">ready</span> : <span class="refused">not ready</span>}</h2>
      <p class="hint">
        node <code data-k="node-id">{s.nodeId}</code> · version {s.version} · up {Math.round(s.uptimeSeconds ?? 0)} s
      </p>
      <table>
        <thead><tr><th>component</th><th>ready</th><th>required</th><th>detail</th></tr></thead>
        <tbody>
          {(s.components ?? []).map((c) => (
            <tr data-component={c.name} data-ready={String(!!c.ready)}>
              <td>{c.name}</td><td>{c.ready ? "yes" : "no"}</td><td>{c.required ? "yes" : "no"}</td><td>{c.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function PathsPanel({ p, latency }: { p: PathsJson | null; latency: Map<string, LatencyJson> }) {
  const last = useRef(new Map<string, { at: number; bytes: number; bps: number }>());
  const now = Date.now();
  const rate = (name: string, inbound: number) => {
    const prev = last.current.get(name);
    if (!prev || inbound < prev.bytes) {
      last.current.set(name, { at: now, bytes: inbound, bps: 0 });
      return 0;
    }
    if (now - prev.at < 500) return prev.bps;
    const bps = ((inbound - prev.bytes) * 8 * 1000) / (now - prev.at);
    last.current.set(name, { at: now, bytes: inbound, bps });
    return bps;
  };
  return (
    <section id="paths">
      <h2>Live paths</h2>
      <p class="hint">MediaMTX: {p?.mediamtxState ?? "?"} {p?.mediamtxDetail ? `(${p.mediamtxDetail})` : ""}</p>
      <table>
        <thead><tr><th>path</th><th>live</th><th>source</th><th>readers</th><th>bitrate in</th><th>segments</th><th>ingest p50 / p95</th></tr></thead>
        <tbody>
          {(p?.paths ?? []).map((x) => {
            const l = latency.get(x.name);
            return (
              <tr data-path={x.name} data-readers={String(x.readers ?? 0)} data-segments={String(n(x.segments))}>
                <td><a href={`/watch/${x.name.split("/").map(encodeURIComponent).join("/")}`}>{x.name}</a></td>
                <td>{x.available ? "yes" : "no"}</td>
                <td>{x.sourceType}</td>
                <td>{x.readers ?? 0}</td>
                <td>{bits(rate(x.name, n(x.inboundBytes)))}</td>
                <td>{n(x.segments)}</td>
                <td data-k="latency" data-p50={String(l?.p50Ms ?? 0)} data-p95={String(l?.p95Ms ?? 0)}>
                  {l ? `${(l.p50Ms ?? 0).toFixed(1)} / ${(l.p95Ms ?? 0).toFixed(1)} ms` : "-"}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function LatencyPanel({ all }: { all: LatencyJson | null }) {
  return (
    <section id="latency" data-p50={String(all?.p50Ms ?? 0)} data-p95={String(all?.p95Ms ?? 0)} data-samples={String(all?.samples ?? 0)}>
      <h2>Segment ingest latency</h2>
      <p>
        p50 <b>{(all?.p50Ms ?? 0).toFixed(1)} ms</b> · p95 <b>{(all?.p95Ms ?? 0).toFixed(1)} ms</b> · max {(all?.maxMs ?? 0).toFixed(1)} ms over the newest {all?.samples ?? 0} segments ({n(all?.total)} since start)
      </p>
    </section>
  );
}

function SessionsPanel({ live, paid }: { live: Polled<{ sessions?: LiveSessionJson[] }>; paid: Polled<{ sessions?: PaidSessionJson[]; open?: number }> }) {
  return (
    <section id="sessions">
      <h2>Sessions</h2>
      <Gate error={live.error}>
        <table>
          <thead><tr><th>protocol</th><th>path</th><th>state</th><th>remote</th><th>duration</th><th>in / out</th></tr></thead>
          <tbody>
            {(live.data?.sessions ?? []).map((s) => (
              <tr data-session={s.id} data-protocol={s.protocol} data-path={s.path}>
                <td>{s.protocol}</td><td>{s.path}</td><td>{s.state}</td><td>{s.remoteAddr}</td>
                <td>{n(s.createdUnixMs) ? ago(n(s.createdUnixMs)) : "-"}</td>
                <td>{bytes(n(s.inboundBytes))} / {bytes(n(s.outboundBytes))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Gate>
      <h3>Paid sessions</h3>
      <Gate error={paid.error}>
        <table id="paid-sessions" data-open={String(paid.data?.open ?? 0)}>
          <thead><tr><th>session</th><th>service</th><th>client</th><th>paid</th><th>left</th><th>opened</th></tr></thead>
          <tbody>
            {(paid.data?.sessions ?? []).map((s) => (
              <tr data-service={s.service} data-paid={String(n(s.paid))}>
                <td><code>{s.idPrefix}</code></td><td>{s.service}</td><td>{s.client}</td><td>{n(s.paid)} sat</td><td>{n(s.left)}</td><td>{ago(n(s.createdUnixMs))} ago</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Gate>
    </section>
  );
}

/** Pinned blobs, counted over at most 20 pages of 1000. */
async function pinnedCount(): Promise<{ pinned: number; listed: number; more: boolean }> {
  let after = "";
  let pinned = 0;
  let listed = 0;
  for (let page = 0; page < 20; page++) {
    const r = await admin<{ blobs?: BlobJson[]; next?: string }>("StorageService/List", { after, limit: 1000 });
    for (const b of r.blobs ?? []) {
      listed++;
      if (b.pinned) pinned++;
    }
    if (!r.next) return { pinned, listed, more: false };
    after = r.next;
  }
  return { pinned, listed, more: true };
}

function StoragePanel({ s, pins }: { s: StatusJson | null; pins: Polled<{ pinned: number; listed: number; more: boolean }> }) {
  const used = n(s?.storage?.bytesUsed);
  const max = n(s?.storage?.bytesMax);
  return (
    <section id="storage" data-used={String(used)} data-max={String(max)} data-blobs={String(n(s?.storage?.blobCount))}>
      <h2>Storage</h2>
      <p>
        {bytes(used)} used of {max ? bytes(max) : "unlimited"} · {n(s?.storage?.blobCount)} blobs ·{" "}
        <Gate error={pins.error}>
          <span data-k="pinned" data-value={String(pins.data?.pinned ?? "")}>{pins.data ? `${pins.data.pinned}${pins.data.more ? "+" : ""} pinned` : "..."}</span>
        </Gate>
      </p>
      {max > 0 && <progress value={used} max={max} />}
    </section>
  );
}

function EarningsPanel({ ledger, wallet, tick }: { ledger: Polled<{ entries?: LedgerEntryJson[] }>; wallet: Polled<{ mints?: MintBalanceJson[]; total?: string }>; tick: number }) {
  const entries = ledger.data?.entries ?? [];
  return (
    <section id="earnings">
      <h2>Earnings</h2>
      <Gate error={ledger.error}>
        <EarningsChart key={tick} entries={entries} />
        <h3>Latest ledger entries</h3>
        <table id="ledger">
          <thead><tr><th>time</th><th>direction</th><th>kind</th><th>service</th><th>sats</th><th>mint</th><th>peer</th></tr></thead>
          <tbody>
            {entries.slice(-20).reverse().map((e) => (
              <tr data-amount={String(n(e.amount))} data-direction={e.direction} data-service={e.service}>
                <td>{new Date(n(e.timeUnixMs)).toLocaleTimeString()}</td><td>{e.direction}</td><td>{e.kind}</td><td>{e.service}</td><td>{n(e.amount)}</td><td>{e.mint}</td><td>{e.peer}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Gate>
      <h3>Wallet</h3>
      <Gate error={wallet.error}>
        <table id="wallet" data-total={String(n(wallet.data?.total))}>
          <thead><tr><th>mint</th><th>balance</th><th>reserved</th><th>trusted</th></tr></thead>
          <tbody>
            {(wallet.data?.mints ?? []).map((m) => (
              <tr data-mint={m.mint} data-balance={String(n(m.balance))}>
                <td>{m.mint}</td><td>{n(m.balance)} sat</td><td>{n(m.reserved)}</td><td>{m.trusted ? "yes" : "no"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p>total {n(wallet.data?.total)} sat</p>
      </Gate>
    </section>
  );
}

function ClusterPanel({ c }: { c: Polled<ClusterJson> }) {
  if (c.error && absent(c.error)) {
    return <section id="cluster" data-state="off"><h2>Cluster</h2><p class="hint">The cluster role is not on for this node.</p></section>;
  }
  return (
    <section id="cluster" data-state={c.data ? "on" : "unknown"} data-epoch={String(n(c.data?.epoch))}>
      <h2>Cluster</h2>
      <Gate error={c.error}>
        <p>epoch {n(c.data?.epoch)} · validator <code>{c.data?.validatorId}</code> · {n(c.data?.files)} files · {n(c.data?.underReplicatedStripes)} under-replicated stripes</p>
        <table>
          <thead><tr><th>member</th><th>family</th><th>weight</th><th>state</th><th>heartbeat</th></tr></thead>
          <tbody>
            {(c.data?.members ?? []).map((m) => (
              <tr data-member={m.member?.nodeId}>
                <td><code>{m.member?.nodeId?.slice(0, 16)}</code></td><td>{m.member?.family}</td><td>{m.member?.weight}</td><td>{m.member?.state}</td>
                <td>{n(m.lastHeartbeatUnixMs) ? `${ago(n(m.lastHeartbeatUnixMs))} ago` : "-"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Gate>
    </section>
  );
}

function App() {
  const [tokenKey, setTokenKey] = useState(0);
  // Every panel fetches again when this changes (the token or the Refresh button).
  const [refresh, setRefresh] = useState(0);
  const key = `${tokenKey}/${refresh}`;
  const pending = useInFlight();
  const status = usePoll(() => pub<StatusJson>("NodeService/GetStatus").catch((e: unknown) => (refusedToken(e) ? admin<StatusJson>("NodeService/GetStatus") : Promise.reject(e))), 2000, key);
  const paths = usePoll(() => pub<PathsJson>("StreamService/ListPaths"), 2000, key);
  const latency = usePoll(() => pub<{ paths?: LatencyJson[]; all?: LatencyJson }>("StreamService/GetIngestStats"), 2000, key);
  const live = usePoll(() => admin<{ sessions?: LiveSessionJson[] }>("StreamService/ListSessions"), 3000, key);
  const paid = usePoll(() => admin<{ sessions?: PaidSessionJson[]; open?: number }>("PaymentService/ListSessions", { limit: 50 }), 5000, key);
  const ledger = usePoll(() => admin<{ entries?: LedgerEntryJson[] }>("PaymentService/Ledger", { limit: 1000 }), 5000, key);
  const wallet = usePoll(() => admin<{ mints?: MintBalanceJson[]; total?: string }>("WalletService/Balance"), 10_000, key);
  const pins = usePoll(pinnedCount, 15_000, key);
  const cluster = usePoll(() => admin<ClusterJson>("ValidatorService/GetClusterStatus"), 10_000, key);
  const refused = [live, paid, ledger, wallet].some((p) => p.error && refusedToken(p.error));
  const byPath = new Map((latency.data?.paths ?? []).map((l) => [l.path ?? "", l]));
  return (
    <>
      <header>
        <h1>SlowDrip node</h1>
        <button id="refresh" type="button" data-refresh={String(refresh)} data-pending={String(pending)} onClick={() => setRefresh((r) => r + 1)}>
          Refresh
        </button>
        <TokenBar refused={refused && adminToken() !== ""} onChange={() => setTokenKey((k) => k + 1)} />
      </header>
      <StatusPanel s={status.data} />
      <PathsPanel p={paths.data} latency={byPath} />
      <LatencyPanel all={latency.data?.all ?? null} />
      <SessionsPanel live={live} paid={paid} />
      <StoragePanel s={status.data} pins={pins} />
      <EarningsPanel ledger={ledger} wallet={wallet} tick={tokenKey} />
      <ClusterPanel c={cluster} />
    </>
  );
}

render(<App />, document.getElementById("app")!);
