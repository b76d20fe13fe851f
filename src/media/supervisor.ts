// MediaMTX supervisor: runs it as a child (restart with back-off, stop on exit) or only watches an external/systemd one.
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { accessSync, constants, existsSync } from "node:fs";
import type { MediaMtxApi } from "./api.ts";

/** How MediaMTX runs (config key mediamtx.manage). */
export type ManageMode = "child" | "systemd" | "external" | "off";

/** Readiness states reported by /readyz. */
export type MediaState = "off" | "not-installed" | "starting" | "ready" | "restarting" | "unreachable" | "stopped";

/** A snapshot of the supervisor, for readiness and status. */
export interface MediaStatus {
  mode: ManageMode;
  state: MediaState;
  /** Human-readable detail: why it is not ready, what to do. */
  detail: string;
  pid: number | null;
  restarts: number;
  version: string | null;
}

export interface SupervisorOptions {
  mode: ManageMode;
  api: MediaMtxApi;
  /** child mode: MediaMTX executable. */
  binary?: string;
  /** child mode: rendered mediamtx.yml. */
  configPath?: string;
  /** child mode: working directory of the child. */
  cwd?: string;
  /** First restart delay; doubles per consecutive failure up to maxBackoffMs. Default 500 ms. */
  initialBackoffMs?: number;
  /** Default 30 s. */
  maxBackoffMs?: number;
  /** A child that stayed up this long resets the back-off. Default 30 s. */
  stableAfterMs?: number;
  /** How often the API is probed. Default 1000 ms (200 ms while starting). */
  pollMs?: number;
  /** Grace period between SIGTERM and SIGKILL on stop. Default 5000 ms. */
  stopTimeoutMs?: number;
  /** Receives MediaMTX's output lines (bounded to 4 KiB each). */
  onLog?: (line: string) => void;
  /**
   * Make the kernel kill the child when the node dies, even by SIGKILL (setpriv --pdeathsig, util-linux). Default true
   * on Linux when /usr/bin/setpriv exists.
   */
  killWithParent?: boolean;
}

const SETPRIV = "/usr/bin/setpriv";

const INSTALL_HINT = "MediaMTX binary not installed: run `npm run mediamtx:install` and set mediamtx.binary (env SLOWDRIP_MEDIAMTX_BINARY) to the path it prints";
const MAX_LINE = 4096;

/**
 * Supervises one MediaMTX. Emits "state" (MediaStatus) on every transition and "exit" ({code, signal}) when a child
 * ends. In child mode the child is killed when the node process exits.
 */
export class MediaSupervisor extends EventEmitter {
  readonly mode: ManageMode;
  readonly #opts: Required<Omit<SupervisorOptions, "binary" | "configPath" | "cwd" | "onLog" | "killWithParent">> & SupervisorOptions;
  #state: MediaState = "stopped";
  #detail = "not started";
  #child: ChildProcess | null = null;
  #restarts = 0;
  #failures = 0;
  #version: string | null = null;
  #running = false;
  #pollTimer: NodeJS.Timeout | null = null;
  #restartTimer: NodeJS.Timeout | null = null;
  #stableTimer: NodeJS.Timeout | null = null;
  #probeAbort: AbortController | null = null;
  #lastLines: string[] = [];
  #lastError: string | null = null;
  #spawnedAt = 0;
  readonly #onProcessExit = () => {
    this.#child?.kill("SIGKILL");
  };

  constructor(opts: SupervisorOptions) {
    super();
    if (!["child", "systemd", "external", "off"].includes(opts.mode)) throw new RangeError(`mode '${opts.mode}' is not child, systemd, external or off`);
    if (opts.mode === "child" && (typeof opts.configPath !== "string" || opts.configPath === "")) {
      throw new TypeError("child mode needs configPath");
    }
    this.mode = opts.mode;
    this.#opts = {
      initialBackoffMs: 500,
      maxBackoffMs: 30_000,
      stableAfterMs: 30_000,
      pollMs: 1000,
      stopTimeoutMs: 5000,
      ...opts,
    };
    for (const k of ["initialBackoffMs", "maxBackoffMs", "stableAfterMs", "pollMs", "stopTimeoutMs"] as const) {
      const v = this.#opts[k];
      if (!(Number.isFinite(v) && v > 0 && v <= 3_600_000)) throw new RangeError(`${k} must be in 1-3600000 ms`);
    }
  }

  /** The current status. */
  status(): MediaStatus {
    return {
      mode: this.mode,
      state: this.#state,
      detail: this.#detail,
      pid: this.#child?.pid ?? null,
      restarts: this.#restarts,
      version: this.#version,
    };
  }

  /** True when MediaMTX answers its API. */
  get ready(): boolean {
    return this.#state === "ready";
  }

  #set(state: MediaState, detail: string): void {
    if (state === this.#state && detail === this.#detail) return;
    this.#state = state;
    this.#detail = detail;
    this.emit("state", this.status());
  }

  /** Starts supervising (returns at once; watch "state" or waitReady()). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    if (this.mode === "off") {
      this.#set("off", "mediamtx.manage is off");
      return;
    }
    if (this.mode === "child") {
      process.on("exit", this.#onProcessExit);
      this.#spawn();
    } else {
      this.#set("starting", `waiting for the ${this.mode} MediaMTX API at ${this.#opts.api.baseUrl}`);
    }
    this.#schedulePoll(0);
  }

  /** Resolves when ready, rejects with the current detail after timeoutMs. */
  waitReady(timeoutMs: number): Promise<MediaStatus> {
    if (this.ready) return Promise.resolve(this.status());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off("state", on);
        reject(new Error(`MediaMTX not ready after ${timeoutMs} ms: ${this.#state}: ${this.#detail}`));
      }, timeoutMs);
      const on = (s: MediaStatus) => {
        if (s.state === "ready") {
          clearTimeout(t);
          this.off("state", on);
          resolve(s);
        }
      };
      this.on("state", on);
    });
  }

  #binaryProblem(): string | null {
    const bin = this.#opts.binary;
    if (!bin) return INSTALL_HINT;
    try {
      accessSync(bin, constants.X_OK);
      return null;
    } catch {
      return `${INSTALL_HINT} (${bin} is missing or not executable)`;
    }
  }

  #spawn(): void {
    if (!this.#running) return;
    const problem = this.#binaryProblem();
    if (problem) {
      this.#set("not-installed", problem);
      return;
    }
    this.#lastLines = [];
    this.#lastError = null;
    let child: ChildProcess;
    try {
      const direct = [this.#opts.binary as string, this.#opts.configPath as string];
      const guard = (this.#opts.killWithParent ?? true) && process.platform === "linux" && existsSync(SETPRIV);
      const [cmd, ...args] = guard ? [SETPRIV, "--pdeathsig", "KILL", "--", ...direct] : direct;
      child = spawn(cmd!, args, {
        cwd: this.#opts.cwd,
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (e) {
      this.#childEnded(null, null, `spawn failed: ${(e as Error).message}`);
      return;
    }
    this.#child = child;
    this.#spawnedAt = Date.now();
    this.#set(this.#restarts > 0 || this.#failures > 0 ? "restarting" : "starting", `MediaMTX pid ${child.pid ?? "?"} starting`);
    for (const s of [child.stdout, child.stderr]) {
      let buf = "";
      s?.setEncoding("utf8");
      s?.on("data", (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          this.#line(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        if (buf.length > MAX_LINE) {
          this.#line(buf);
          buf = "";
        }
      });
    }
    child.once("error", (e) => {
      if (this.#child === child) this.#childEnded(null, null, `spawn failed: ${e.message}`);
    });
    child.once("exit", (code, signal) => {
      if (this.#child === child) this.#childEnded(code, signal, null);
    });
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      this.#failures = 0;
    }, this.#opts.stableAfterMs);
    this.#stableTimer.unref();
  }

  #line(line: string): void {
    const l = line.slice(0, MAX_LINE);
    if (/"level":"ERR"|^ERR\b|^\S+ \S+ ERR /.test(l)) this.#lastError = l;
    this.#lastLines.push(l);
    if (this.#lastLines.length > 5) this.#lastLines.shift();
    this.#opts.onLog?.(l);
  }

  #childEnded(code: number | null, signal: NodeJS.Signals | null, error: string | null): void {
    this.#child = null;
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    this.emit("exit", { code, signal, error });
    if (!this.#running) {
      this.#set("stopped", "stopped by the node");
      return;
    }
    const why = error ?? `exited with ${signal ? `signal ${signal}` : `code ${code}`}`;
    const last = this.#lastError ?? this.#lastLines[this.#lastLines.length - 1];
    const tail = last ? `; ${this.#lastError ? "error" : "last output"}: ${last}` : "";
    const delay = Math.min(this.#opts.maxBackoffMs, this.#opts.initialBackoffMs * 2 ** this.#failures);
    this.#failures++;
    this.#restarts++;
    this.#set("restarting", `MediaMTX ${why}${tail}; restarting in ${delay} ms`);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      this.#spawn();
    }, delay);
  }

  #schedulePoll(ms: number): void {
    if (!this.#running) return;
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => void this.#probe(), ms);
  }

  async #probe(): Promise<void> {
    this.#pollTimer = null;
    if (!this.#running) return;
    const childMode = this.mode === "child";
    if (childMode && !this.#child) {
      this.#schedulePoll(this.#opts.pollMs);
      return;
    }
    this.#probeAbort = new AbortController();
    try {
      const info = await this.#opts.api.info(this.#probeAbort.signal);
      this.#version = info.version || null;
      const started = Date.parse(info.started);
      if (childMode && Number.isFinite(started) && started < this.#spawnedAt - 1500) {
        // The API answering is not our child's (it started before we spawned ours): another MediaMTX owns the port.
        this.#set(this.#state === "ready" ? "restarting" : this.#state, `another MediaMTX (started ${info.started}) answers at ${this.#opts.api.baseUrl}; is mediamtx.api in use?`);
      } else if (this.#running && (!childMode || this.#child)) {
        this.#set("ready", `MediaMTX ${info.version} answering at ${this.#opts.api.baseUrl}`);
      }
    } catch (e) {
      if (this.#running) {
        if (childMode) {
          if (this.#state === "ready") this.#set("restarting", `MediaMTX API stopped answering: ${(e as Error).message}`);
        } else {
          this.#set(this.#state === "ready" || this.#state === "unreachable" ? "unreachable" : "starting", `${this.mode} MediaMTX API not answering: ${(e as Error).message}`);
        }
      }
    } finally {
      this.#probeAbort = null;
    }
    this.#schedulePoll(this.#state === "ready" ? this.#opts.pollMs : Math.min(200, this.#opts.pollMs));
  }

  /** Kills the child (SIGKILL) so that the supervisor restarts it; for tests and `restart` commands. */
  killChild(signal: NodeJS.Signals = "SIGKILL"): boolean {
    return this.#child?.kill(signal) ?? false;
  }

  /** Stops supervising; in child mode sends SIGTERM, then SIGKILL after stopTimeoutMs. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const t of [this.#pollTimer, this.#restartTimer, this.#stableTimer]) if (t) clearTimeout(t);
    this.#pollTimer = this.#restartTimer = this.#stableTimer = null;
    this.#probeAbort?.abort();
    process.off("exit", this.#onProcessExit);
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => child.kill("SIGKILL"), this.#opts.stopTimeoutMs);
        child.once("exit", () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill("SIGTERM");
      });
    }
    this.#child = null;
    this.#set("stopped", "stopped by the node");
  }
}
