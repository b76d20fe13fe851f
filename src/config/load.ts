// Config loading: defaults < YAML file < SLOWDRIP_* environment < CLI flags, with errors that name the field.
import { existsSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { configKeys, defaults, envName, schema, type Config, type ConfigKey } from "./schema.ts";

/** Where an effective value came from. */
export type Source = "default" | "file" | "env" | "flag";

/** A config error names the field, the source that set it and what is allowed. */
export class ConfigError extends Error {
  readonly field: string;
  readonly source: Source | "file-syntax";
  readonly allowed: string | undefined;
  constructor(field: string, source: ConfigError["source"], message: string, allowed?: string, options?: { cause?: unknown }) {
    super(`config ${field} (from ${source}): ${message}${allowed ? `; allowed: ${allowed}` : ""}`, options);
    this.name = "ConfigError";
    this.field = field;
    this.source = source;
    this.allowed = allowed;
  }
}

/** The effective config with the source of each value and the file read, if any. */
export interface LoadedConfig {
  config: Config;
  sources: Record<ConfigKey, Source>;
  file: string | undefined;
}

/** Inputs to loadConfig; every part is optional so that tests can build any precedence case. */
export interface LoadOptions {
  /** Explicit file from --config; an error if missing. */
  configFile?: string | undefined;
  /** Values from CLI flags, by config key, as text. */
  flags?: Partial<Record<string, string>>;
  /** Environment to read SLOWDRIP_* from (default: none). */
  env?: NodeJS.ProcessEnv;
  /** Files tried in order when no --config is given. */
  searchPaths?: string[];
  /** Base for relative paths. */
  cwd?: string;
}

/** Default search path: ./slowdrip.yaml, then /etc/slowdrip/slowdrip.yaml. */
export const DEFAULT_SEARCH_PATHS = ["slowdrip.yaml", "/etc/slowdrip/slowdrip.yaml"];

/** Environment variables with the SLOWDRIP_ prefix that are not config keys. */
export const NON_CONFIG_ENV = new Set(["SLOWDRIP_CONFIG", "SLOWDRIP_URL", "SLOWDRIP_TOKEN", "SLOWDRIP_MEDIAMTX_SOURCE", "SLOWDRIP_MEDIAMTX_SHA256", "SLOWDRIP_MEDIAMTX_VERSION"]);

const MAX_FILE = 1024 * 1024;
const byEnv = new Map(configKeys.map((k) => [envName(k), k]));
const sections = new Set(configKeys.map((k) => k.split(".")[0]!));

function setValue(out: Record<string, unknown>, sources: Record<string, Source>, key: string, raw: unknown, source: Source): void {
  const field = (schema as Record<string, (typeof schema)[ConfigKey]>)[key];
  if (!field) throw new ConfigError(key, source, `unknown key "${key}"`, `one of the keys listed by 'slowdrip config print'`);
  try {
    out[key] = field.parse(raw);
  } catch (err) {
    throw new ConfigError(key, source, (err as Error).message, field.allowed, { cause: err });
  }
  sources[key] = source;
}

/** Flattens a parsed YAML document into dotted keys; leaves are scalars or sequences. */
function flatten(doc: unknown, prefix: string, out: Map<string, unknown>): void {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(prefix || "(file)", "file", "expected a mapping of sections");
  }
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const isLeafKey = (configKeys as string[]).includes(key);
    if (!isLeafKey && v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else out.set(key, v);
  }
}

/** Reads and flattens a YAML config file. */
export function readConfigFile(path: string): Map<string, unknown> {
  const st = statSync(path);
  if (st.size > MAX_FILE) throw new ConfigError("(file)", "file-syntax", `${path} is larger than 1 MiB`);
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8"), { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError("(file)", "file-syntax", `${path}: ${(err as Error).message.split("\n")[0]}`, undefined, { cause: err });
  }
  const out = new Map<string, unknown>();
  if (doc === null || doc === undefined) return out;
  flatten(doc, "", out);
  return out;
}

/**
 * True when a search-path candidate exists. Under Node's permission model (the appliance build) a file the build may
 * not read is not a candidate: it could not be read anyway, and the build names its own config file.
 */
function searchable(file: string): boolean {
  try {
    return existsSync(file);
  } catch (err) {
    if ((err as { code?: unknown }).code === "ERR_ACCESS_DENIED") return false;
    throw err;
  }
}

/** Loads the effective config. Throws ConfigError naming the field on any bad input. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const out: Record<string, unknown> = { ...defaults() };
  const sources = Object.fromEntries(configKeys.map((k) => [k, "default"])) as Record<string, Source>;

  let file: string | undefined;
  if (opts.configFile) {
    file = resolve(cwd, opts.configFile);
    if (!existsSync(file)) throw new ConfigError("--config", "flag", `file ${file} does not exist`);
  } else {
    for (const p of opts.searchPaths ?? []) {
      const abs = resolve(cwd, p);
      if (searchable(abs)) {
        file = abs;
        break;
      }
    }
  }
  if (file) {
    for (const [k, v] of readConfigFile(file)) setValue(out, sources, k, v, "file");
  }

  for (const [name, value] of Object.entries(opts.env ?? {})) {
    if (!name.startsWith("SLOWDRIP_") || value === undefined || NON_CONFIG_ENV.has(name) || name.startsWith("SLOWDRIP_TEST_")) continue;
    const key = byEnv.get(name);
    if (key) setValue(out, sources, key, value, "env");
    else {
      const section = name.slice("SLOWDRIP_".length).split("_")[0]!.toLowerCase();
      if (sections.has(section)) throw new ConfigError(name, "env", `unknown environment variable ${name}`, "SLOWDRIP_<SECTION>_<KEY> for a known key");
    }
  }

  for (const [key, value] of Object.entries(opts.flags ?? {})) {
    if (value !== undefined) setValue(out, sources, key, value, "flag");
  }

  return { config: out as Config, sources: sources as Record<ConfigKey, Source>, file };
}

/** Renders the effective config, one `key: value  # source` line per key. */
export function formatConfig(loaded: LoadedConfig): string {
  const width = Math.max(...configKeys.map((k) => k.length));
  const lines = configKeys.map((k) => {
    const field = schema[k] as { format(v: unknown): string };
    return `${`${k}:`.padEnd(width + 1)} ${field.format(loaded.config[k])}  # ${loaded.sources[k]}`;
  });
  return `${loaded.file ? `# file: ${loaded.file}\n` : "# file: none\n"}${lines.join("\n")}\n`;
}
