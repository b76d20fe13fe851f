// Renders the commented sample config (configs/slowdrip.yaml) from the schema, nested by section.
import { configKeys, envName, schema } from "./schema.ts";

/** The commented YAML sample whose values are the defaults. */
export function renderSample(): string {
  const lines = [
    "# slowdrip.yaml — every key with its default value.",
    "# Sources, highest first: CLI flags, SLOWDRIP_* environment, this file, built-in defaults.",
    "# Key section.key maps to env SLOWDRIP_SECTION_KEY. Sizes: \"64MiB\", \"1GB\". Durations: \"30s\", \"1h30m\".",
  ];
  let open: string[] = [];
  for (const key of configKeys) {
    const parts = key.split(".");
    const path = parts.slice(0, -1);
    let common = 0;
    while (common < open.length && common < path.length && open[common] === path[common]) common++;
    for (let i = common; i < path.length; i++) {
      if (i === 0) lines.push("");
      lines.push(`${"  ".repeat(i)}${path[i]}:`);
    }
    open = path;
    const field = schema[key] as { doc: string; allowed: string; flag?: string; format(v: unknown): string; default: unknown };
    const indent = "  ".repeat(path.length);
    const flag = field.flag ? `, flag --${field.flag}` : "";
    lines.push(`${indent}# ${field.doc}`);
    lines.push(`${indent}# Allowed: ${field.allowed}. Env ${envName(key)}${flag}.`);
    lines.push(`${indent}${parts[parts.length - 1]}: ${field.format(field.default)}`);
  }
  return `${lines.join("\n")}\n`;
}
