// Config flags shared by every command that loads the node config (--config, --data-dir, --listen, --log-level, --set).
import type { ParseArgsConfig } from "node:util";
import { CliError } from "../cli/command.ts";
import { configKeys, schema } from "./schema.ts";
import { DEFAULT_SEARCH_PATHS, loadConfig, type LoadedConfig } from "./load.ts";

/** parseArgs options for the config flags. */
export const configFlagOptions = {
  config: { type: "string" },
  set: { type: "string", multiple: true },
  ...Object.fromEntries(
    configKeys.flatMap((k) => {
      const flag = (schema[k] as { flag?: string }).flag;
      return flag ? [[flag, { type: "string" }]] : [];
    }),
  ),
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

/** Usage lines describing the config flags. */
export const configFlagUsage = [
  "  --config FILE        YAML config file (default ./slowdrip.yaml if present, else /etc/slowdrip/slowdrip.yaml)",
  ...configKeys.flatMap((k) => {
    const flag = (schema[k] as { flag?: string }).flag;
    return flag ? [`  --${flag.padEnd(18)} sets ${k}`] : [];
  }),
  "  --set KEY=VALUE      sets any config key (repeatable), e.g. --set store.max_storage=10GiB",
].join("\n");

/** Loads the config from parsed flag values and the process environment. */
export function loadFromFlags(values: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd: string): LoadedConfig {
  const flags: Record<string, string> = {};
  for (const k of configKeys) {
    const flag = (schema[k] as { flag?: string }).flag;
    const v = flag ? values[flag] : undefined;
    if (typeof v === "string") flags[k] = v;
  }
  for (const pair of (values.set as string[] | undefined) ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new CliError(`--set expects KEY=VALUE, got "${pair}"`, 2);
    flags[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const configFile = (values.config as string | undefined) ?? env.SLOWDRIP_CONFIG;
  return loadConfig({ configFile, flags, env, searchPaths: DEFAULT_SEARCH_PATHS, cwd });
}
