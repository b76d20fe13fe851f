// `slowdrip run`: runs the node in the foreground until SIGTERM or SIGINT.
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import { configFlagOptions, configFlagUsage, loadFromFlags } from "../config/flags.ts";
import { createLogger } from "../node/logger.ts";
import { startNode } from "../node/node.ts";
import { fullNode } from "../node/components.ts";

export const runCommand: Command = {
  name: "run",
  summary: "run the node (the default command)",
  usage: [
    "usage: slowdrip run [config flags]",
    "",
    "Runs the node in the foreground, logging to stdout (node.log_format: readable lines on a terminal, JSON lines",
    "otherwise). SIGTERM or SIGINT stops it gracefully:",
    "no new connections, in-flight requests finish (up to api.shutdown_timeout), stores close, exit code 0.",
    "",
    "config flags:",
    configFlagUsage,
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({ args: argv, options: configFlagOptions, allowPositionals: true });
    if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`, 2);
    const loaded = loadFromFlags(values, io.env, io.cwd);
    const log = createLogger(loaded.config["node.log_level"], 1, loaded.config["node.log_format"]);
    if (loaded.file) log.info({ file: loaded.file }, "config file loaded");
    const node = await startNode(loaded.config, log, fullNode);
    await new Promise<void>((resolve) => {
      const onSignal = (sig: NodeJS.Signals) => {
        log.info({ signal: sig }, "signal received");
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        resolve();
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
    });
    await node.stop();
    return 0;
  },
};
