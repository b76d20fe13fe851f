// `slowdrip config print|sample|check`: shows the effective config with each value's source.
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import { configFlagOptions, configFlagUsage, loadFromFlags } from "../config/flags.ts";
import { formatConfig } from "../config/load.ts";
import { renderSample } from "../config/sample.ts";

export const configCommand: Command = {
  name: "config",
  usage: [
    "usage: slowdrip config print [--json] [config flags]",
    "       slowdrip config sample",
    "       slowdrip config check [config flags]",
    "",
    "print   shows every key's effective value and where it came from (default, file, env, flag)",
    "sample  prints the commented sample config with the built-in defaults",
    "check   validates the config and exits non-zero naming the first bad field",
    "",
    "config flags:",
    configFlagUsage,
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({ args: argv, options: { ...configFlagOptions, json: { type: "boolean" } }, allowPositionals: true });
    const sub = positionals[0] ?? "print";
    if (positionals.length > 1) throw new CliError(`unexpected argument "${positionals[1]}"`, 2);
    if (sub === "sample") {
      io.stdout.write(renderSample());
      return 0;
    }
    if (sub !== "print" && sub !== "check") throw new CliError(`unknown subcommand "${sub}" (print, sample, check)`, 2);
    const loaded = loadFromFlags(values, io.env, io.cwd);
    if (sub === "check") {
      io.stdout.write(`config ok${loaded.file ? ` (${loaded.file})` : ""}\n`);
    } else if (values.json) {
      const out = Object.fromEntries(Object.entries(loaded.config).map(([k, v]) => [k, { value: v, source: loaded.sources[k as keyof typeof loaded.sources] }]));
      io.stdout.write(`${JSON.stringify({ file: loaded.file ?? null, values: out }, null, 2)}\n`);
    } else {
      io.stdout.write(formatConfig(loaded));
    }
    return 0;
  },
};
