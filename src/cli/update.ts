// `slowdrip update sign|apply|status|gate`: signed A/B updates of the appliance image.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, readFileSync, statSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import { configFlagOptions, loadFromFlags } from "../config/flags.ts";
import { decodeKeypair } from "../identity/identity.ts";
import { makeHeader, MAX_PAYLOAD, UpdateError } from "../update/bundle.ts";
import { apply, imageSystem, onTrial, status } from "../update/apply.ts";
import { GATE_MAX_RESTARTS, runGate, systemdUnitState } from "../update/gate.ts";

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

export const updateCommand: Command = {
  name: "update",
  usage: [
    "usage: slowdrip update sign --key FILE --root IMG --version V --arch x64|arm64 --output FILE",
    "       slowdrip update apply FILE|URL [config flags]",
    "       slowdrip update status [--json]",
    "       slowdrip update gate [config flags]",
    "",
    "sign    makes a bundle of a root slot image (npm run image writes build/image/slowdrip-<v>-<arch>.root.img),",
    "        signed with the Ed25519 keypair FILE (from `slowdrip keygen`)",
    "apply   (root, on the image) checks the bundle's Ed25519 signature against update.trusted_keys and its sha256,",
    "        writes the inactive slot and makes it the next boot, on trial: it is kept only if /readyz turns green",
    "        within update.health_timeout, else the boot after returns to the current slot",
    "status  booted slot, each slot's version and state (good, trial, bad, empty), the last update and its result",
    "gate    (run by slowdrip-update-gate.service on a trial boot) waits for /readyz; exit 1 fails the trial, at once",
    `        when slowdrip.service has failed or was restarted ${GATE_MAX_RESTARTS} times`,
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        ...configFlagOptions,
        key: { type: "string" },
        root: { type: "string" },
        version: { type: "string" },
        arch: { type: "string" },
        output: { type: "string", short: "o" },
        json: { type: "boolean", default: false },
      },
      allowPositionals: true,
    });
    const sub = positionals[0];
    const log = (s: string) => io.stderr.write(`update: ${s}\n`);
    try {
      if (sub === "sign") {
        if (positionals.length !== 1) throw new CliError(`unexpected argument "${positionals[1]}"`, 2);
        if (!values.key || !values.root || !values.version || !values.output) throw new CliError("sign needs --key, --root, --version and --output", 2);
        if (values.arch !== "x64" && values.arch !== "arm64") throw new CliError("--arch must be x64 or arm64", 2);
        const id = decodeKeypair(readFileSync(resolve(io.cwd, values.key), "utf8"), values.key);
        const rootImg = resolve(io.cwd, values.root);
        const size = statSync(rootImg).size;
        if (size < 1 || size > MAX_PAYLOAD) throw new CliError(`--root ${values.root} is ${size} bytes (1 to ${MAX_PAYLOAD})`);
        const header = makeHeader({ version: values.version, arch: values.arch, size, sha256: await sha256File(rootImg), secretKey: id.secretKey, publicKey: id.publicKey });
        const out = resolve(io.cwd, values.output);
        writeFileSync(out, header);
        await pipeline(createReadStream(rootImg, { highWaterMark: 1 << 20 }), createWriteStream(out, { flags: "a" }));
        io.stdout.write(`${out}\n`);
        return 0;
      }
      if (sub === "apply") {
        if (positionals.length !== 2) throw new CliError("expected: slowdrip update apply FILE|URL", 2);
        const cfg = loadFromFlags(values, io.env, io.cwd).config;
        const src = /^https?:\/\//.test(positionals[1]!) ? positionals[1]! : resolve(io.cwd, positionals[1]!);
        const m = await apply(src, imageSystem(), { trustedKeys: cfg["update.trusted_keys"], log });
        io.stdout.write(`${m.version}: reboot to start it (systemctl reboot)\n`);
        return 0;
      }
      if (sub === "status") {
        const st = status(imageSystem());
        if (values.json) io.stdout.write(`${JSON.stringify(st)}\n`);
        else {
          io.stdout.write(`booted: slot ${String(st.booted_slot).toUpperCase()} (${String(st.booted_version)})\n`);
          for (const s of st.slots as { slot: string; version: string | null; state: string; booted: boolean }[]) {
            io.stdout.write(`slot ${s.slot.toUpperCase()}: ${s.version ?? "-"} ${s.state}${s.booted ? " (booted)" : ""}\n`);
          }
          io.stdout.write(`last update: ${String(st.last_result ?? "none")}\n`);
        }
        return 0;
      }
      if (sub === "gate") {
        if (!onTrial()) {
          log("not a trial boot: nothing to gate");
          return 0;
        }
        const cfg = loadFromFlags(values, io.env, io.cwd).config;
        const port = cfg["api.listen"].split(":").pop();
        const url = `${cfg["api.tls_cert"] ? "https" : "http"}://127.0.0.1:${port}/readyz`;
        const r = await runGate({ url, timeoutMs: cfg["update.health_timeout"], unit: () => systemdUnitState("slowdrip.service") });
        log(`${r.reason}: this boot ${r.ok ? "is good" : "fails its trial"}`);
        return r.ok ? 0 : 1;
      }
      throw new CliError(`unknown subcommand "${sub ?? ""}" (sign, apply, status, gate)`, 2);
    } catch (e) {
      if (e instanceof UpdateError) throw new CliError(e.message, 1, { cause: e });
      throw e;
    }
  },
};

