// `slowdrip run`: runs the node in the foreground until SIGTERM or SIGINT.
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import { configFlagOptions, configFlagUsage, loadFromFlags } from "../config/flags.ts";
import { createLogger } from "../node/logger.ts";
import { startNode } from "../node/node.ts";
import { tuneHeap } from "../node/heap.ts";
import { fullNode } from "../node/components.ts";
import { recordDirOf } from "../node/media.ts";
import { checkNodeRights, dropAfterStart, enterReadableCwd, PermissionRefused, permissionActive } from "../node/permission.ts";
import { nativeCacheDirs } from "../store/lmdb-native.ts";
import { resolve } from "node:path";

export const runCommand: Command = {
  name: "run",
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
    let config = loaded.config;
    const manage = config["mediamtx.manage"];
    const childProcess = manage === "child";
    const recordDir = manage === "off" ? undefined : resolve(io.cwd, recordDirOf(config, resolve(io.cwd, config["node.data_dir"])));
    if (permissionActive()) {
      // The appliance build: refuse a config it cannot serve before touching anything, and keep the hashing workers
      // from inheriting a working directory the node itself may not read.
      try {
        checkNodeRights({ dataDir: resolve(io.cwd, config["node.data_dir"]), recordDir, childProcess });
      } catch (err) {
        if (err instanceof PermissionRefused) throw new CliError(err.message, 1);
        throw err;
      }
      config = { ...config, "node.data_dir": enterReadableCwd(resolve(io.cwd, config["node.data_dir"])) };
    }
    tuneHeap();
    const log = createLogger(config["node.log_level"], 1, config["node.log_format"]);
    if (loaded.file) log.info({ file: loaded.file }, "config file loaded");
    const node = await startNode(config, log, fullNode);
    const dropped = dropAfterStart({
      configFile: loaded.file,
      addonDirs: nativeCacheDirs(io.env),
      keepWritable: [config["node.data_dir"], ...(recordDir ? [recordDir] : [])],
      childProcess,
    });
    if (dropped.length > 0) log.info({ dropped }, "permissions dropped after start-up");
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
