// Test helper: a network namespace joined to this one by a veth pair, so that a client really is "off the machine":
// it reaches the node from a non-loopback address over a network interface. Needs root (CAP_NET_ADMIN) and iproute2.
import { execFile, execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";

/** A namespace with its end of a veth pair; `hostAddr` is this side's address, reachable from inside. */
export interface NetNs {
  readonly name: string;
  /** The address of the host's end (bind a listener here). */
  readonly hostAddr: string;
  /** The address of the namespace's end (clients inside come from here). */
  readonly nsAddr: string;
  /** Runs a command inside the namespace; resolves with its exit code and output (never rejects on a non-zero exit). */
  run(cmd: string, args: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Removes the namespace and the veth pair. */
  remove(): void;
}

const ip = (args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });

/**
 * Creates a namespace "sdN<random>" with a /30 from 10.213.0.0/16 on a fresh veth pair. With `defaultRoute`, the
 * namespace routes everything through the host's end (WebRTC gathers candidates only on an interface with a route).
 */
export function createNetNs(opts: { defaultRoute?: boolean } = {}): NetNs {
  const tag = `${process.pid % 1000}${randomInt(1000, 9999)}`;
  const name = `sdns${tag}`;
  const hostIf = `sdh${tag}`;
  const nsIf = `sdn${tag}`;
  const third = randomInt(0, 256);
  const fourth = randomInt(0, 64) * 4;
  const hostAddr = `10.213.${third}.${fourth + 1}`;
  const nsAddr = `10.213.${third}.${fourth + 2}`;
  const remove = () => {
    try {
      ip(["link", "del", hostIf]);
    } catch {
      /* already gone (deleting the namespace removes its end, and with it the pair) */
    }
    try {
      ip(["netns", "del", name]);
    } catch {
      /* already gone */
    }
  };
  try {
    ip(["netns", "add", name]);
    ip(["link", "add", hostIf, "type", "veth", "peer", "name", nsIf]);
    ip(["link", "set", nsIf, "netns", name]);
    ip(["addr", "add", `${hostAddr}/30`, "dev", hostIf]);
    ip(["link", "set", hostIf, "up"]);
    ip(["netns", "exec", name, "ip", "addr", "add", `${nsAddr}/30`, "dev", nsIf]);
    ip(["netns", "exec", name, "ip", "link", "set", nsIf, "up"]);
    ip(["netns", "exec", name, "ip", "link", "set", "lo", "up"]);
    if (opts.defaultRoute) ip(["netns", "exec", name, "ip", "route", "add", "default", "via", hostAddr]);
  } catch (err) {
    remove();
    throw new Error(`cannot set up a network namespace (needs root and iproute2): ${(err as Error).message}`);
  }
  return {
    name,
    hostAddr,
    nsAddr,
    remove,
    run(cmd, args, timeoutMs = 30_000) {
      return new Promise((resolve) => {
        execFile("ip", ["netns", "exec", name, cmd, ...args], { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: "buffer" }, (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : -1) : 0;
          resolve({ code, stdout: stdout.toString("latin1"), stderr: stderr.toString() });
        });
      });
    },
  };
}
