// Config: precedence, validation errors naming fields, unknown keys, units, and the sample equal to the defaults.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ConfigError, loadConfig, readConfigFile } from "./load.ts";
import { configKeys, defaults, envName, schema } from "./schema.ts";
import { formatDuration, formatSize, parseDuration, parseSize } from "./units.ts";
import { renderSample } from "./sample.ts";

const dir = mkdtempSync(join(tmpdir(), "slowdrip-config-"));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe("units", () => {
  it.each([
    ["0", 0], ["512", 512], ["1KiB", 1024], ["64MiB", 64 * 1024 ** 2], ["1.5GiB", 1.5 * 1024 ** 3], ["1GB", 1e9], ["2k", 2048], ["10 MiB", 10 * 1024 ** 2],
  ])("parseSize(%s) = %d", (s, n) => expect(parseSize(s)).toBe(n));
  it.each(["", "MiB", "-1", "1XB", "1.2.3", "64 Mebibytes"])("parseSize rejects %j", (s) => expect(() => parseSize(s)).toThrow(RangeError));
  it.each([
    ["0", 0], ["500ms", 500], ["30s", 30_000], ["5m", 300_000], ["1h30m", 5_400_000], ["2d", 172_800_000], ["1.5s", 1500],
  ])("parseDuration(%s) = %d", (s, n) => expect(parseDuration(s)).toBe(n));
  it.each(["", "30", "s", "1x", "1h 30m", "-5s"])("parseDuration rejects %j", (s) => expect(() => parseDuration(s)).toThrow(RangeError));
  it("formats round-trip", () => {
    for (const n of [0, 1024, 64 * 1024 ** 2, 3 * 1024 ** 3, 1000]) expect(parseSize(formatSize(n))).toBe(n);
    for (const n of [0, 250, 30_000, 5_400_000, 90_061_001]) expect(parseDuration(formatDuration(n))).toBe(n);
  });
});

describe("precedence: flag > env > file > default", () => {
  const f = file("prec.yaml", "api:\n  listen: 127.0.0.1:1111\nnode:\n  log_level: warn\n");
  const cases: Array<{ name: string; file?: boolean; env?: Record<string, string>; flags?: Record<string, string>; want: string; source: string }> = [
    { name: "default only", want: "127.0.0.1:8080", source: "default" },
    { name: "file over default", file: true, want: "127.0.0.1:1111", source: "file" },
    { name: "env over file", file: true, env: { SLOWDRIP_API_LISTEN: "127.0.0.1:2222" }, want: "127.0.0.1:2222", source: "env" },
    { name: "env over default", env: { SLOWDRIP_API_LISTEN: "127.0.0.1:2222" }, want: "127.0.0.1:2222", source: "env" },
    { name: "flag over env and file", file: true, env: { SLOWDRIP_API_LISTEN: "127.0.0.1:2222" }, flags: { "api.listen": "127.0.0.1:3333" }, want: "127.0.0.1:3333", source: "flag" },
    { name: "flag over file", file: true, flags: { "api.listen": "127.0.0.1:3333" }, want: "127.0.0.1:3333", source: "flag" },
    { name: "flag over default", flags: { "api.listen": "127.0.0.1:3333" }, want: "127.0.0.1:3333", source: "flag" },
  ];
  it.each(cases)("$name", (c) => {
    const loaded = loadConfig({ configFile: c.file ? f : undefined, env: c.env ?? {}, flags: c.flags ?? {} });
    expect(loaded.config["api.listen"]).toBe(c.want);
    expect(loaded.sources["api.listen"]).toBe(c.source);
  });
  it("keys untouched by higher sources keep the lower source", () => {
    const loaded = loadConfig({ configFile: f, env: { SLOWDRIP_API_LISTEN: "127.0.0.1:2222" } });
    expect(loaded.config["node.log_level"]).toBe("warn");
    expect(loaded.sources["node.log_level"]).toBe("file");
    expect(loaded.sources["node.data_dir"]).toBe("default");
  });
  it("search path finds ./slowdrip.yaml; explicit --config must exist", () => {
    const cwd = mkdtempSync(join(tmpdir(), "slowdrip-cwd-"));
    writeFileSync(join(cwd, "slowdrip.yaml"), "store:\n  max_storage: 10GiB\n");
    const loaded = loadConfig({ cwd, searchPaths: ["slowdrip.yaml", "/nonexistent/slowdrip.yaml"] });
    expect(loaded.config["store.max_storage"]).toBe(10 * 1024 ** 3);
    expect(loaded.file).toBe(join(cwd, "slowdrip.yaml"));
    expect(() => loadConfig({ cwd, configFile: "missing.yaml" })).toThrow(/--config.*does not exist/);
  });
  it("every key maps to SLOWDRIP_SECTION_KEY", () => {
    for (const k of configKeys) expect(envName(k)).toBe(`SLOWDRIP_${k.replaceAll(".", "_").toUpperCase()}`);
    expect(envName("pay.pricing.content_download")).toBe("SLOWDRIP_PAY_PRICING_CONTENT_DOWNLOAD");
  });
});

describe("validation errors name the field and the allowed range", () => {
  const bad: Array<[string, string, RegExp]> = [
    ["api.listen", "localhost", /api\.listen.*HOST:PORT/],
    ["api.listen", "127.0.0.1:70000", /api\.listen.*0 to 65535/],
    ["node.log_level", "loud", /node\.log_level.*one of trace, debug, info/],
    ["tuning.store_concurrency", "0", /tuning\.store_concurrency.*integer from 1 to 1024/],
    ["tuning.store_concurrency", "2.5", /tuning\.store_concurrency.*not an integer/],
    ["api.max_message_size", "1GiB", /api\.max_message_size.*1KiB to 64MiB/],
    ["api.max_message_size", "lots", /api\.max_message_size.*invalid size/],
    ["api.shutdown_timeout", "2m", /api\.shutdown_timeout.*100ms to 1m/],
    ["api.public_status", "maybe", /api\.public_status.*true or false/],
    ["node.public_endpoint", "ftp://x", /node\.public_endpoint.*http\(s\) URL/],
    ["node.operator_keys", "abc", /node\.operator_keys.*item 0/],
    ["mediamtx.manage", "docker", /mediamtx\.manage.*child, systemd, external, off/],
  ];
  it.each(bad)("%s = %j", (key, value, re) => {
    for (const via of ["flag", "env", "file"] as const) {
      let err: unknown;
      try {
        if (via === "flag") loadConfig({ flags: { [key]: value } });
        else if (via === "env") loadConfig({ env: { [envName(key)]: value } });
        else {
          const [section, ...rest] = key.split(".");
          loadConfig({ configFile: file(`bad-${key}.yaml`, `${section}:\n  ${rest.join(".")}: ${JSON.stringify(value)}\n`) });
        }
      } catch (e) {
        err = e;
      }
      expect(err, `${key} via ${via}`).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field).toBe(key);
      expect((err as ConfigError).source).toBe(via);
      expect((err as Error).message).toMatch(re);
    }
  });
  it("unknown keys are rejected by name from file, flags and env", () => {
    expect(() => loadConfig({ configFile: file("unk.yaml", "api:\n  lisen: 1.2.3.4:5\n") })).toThrow(/unknown key "api\.lisen"/);
    expect(() => loadConfig({ configFile: file("unk2.yaml", "nosuch:\n  x: 1\n") })).toThrow(/unknown key "nosuch\.x"/);
    expect(() => loadConfig({ flags: { "api.nope": "1" } })).toThrow(/unknown key "api\.nope"/);
    expect(() => loadConfig({ env: { SLOWDRIP_API_LISTN: "x" } })).toThrow(/SLOWDRIP_API_LISTN/);
    // Variables outside config sections (client settings) are not config keys and are left alone.
    expect(loadConfig({ env: { SLOWDRIP_URL: "http://x", SLOWDRIP_TOKEN: "t", OTHER: "1" } }).config["api.listen"]).toBe("127.0.0.1:8080");
  });
  it("a malformed YAML file is refused with its path", () => {
    expect(() => loadConfig({ configFile: file("broken.yaml", "api: [unclosed\n") })).toThrow(/broken\.yaml/);
    expect(() => loadConfig({ configFile: file("dup.yaml", "api:\n  listen: a:1\n  listen: b:2\n") })).toThrow(ConfigError);
  });
});

describe("configs/slowdrip.yaml", () => {
  const samplePath = join(import.meta.dirname, "../../configs/slowdrip.yaml");
  it("sets every key, and only known keys", () => {
    const keys = [...readConfigFile(samplePath).keys()].sort();
    expect(keys).toEqual([...configKeys].sort());
  });
  it("equals the built-in defaults", () => {
    const loaded = loadConfig({ configFile: samplePath });
    expect(loaded.config).toEqual(defaults());
    for (const k of configKeys) expect(loaded.sources[k], k).toBe("file");
  });
  it("is what 'slowdrip config sample' renders (regenerate it with that command)", () => {
    expect(readFileSync(samplePath, "utf8")).toBe(renderSample());
    expect(parseYaml(renderSample())).toBeTypeOf("object");
  });
  it("every field's default passes its own validation", () => {
    for (const k of configKeys) {
      const f = schema[k] as { default: unknown; parse(v: unknown): unknown };
      expect(f.parse(f.default), k).toEqual(f.default);
    }
  });
});
