// `slowdrip token issue` finds the node key like every other command: --data-dir, SLOWDRIP_NODE_DATA_DIR, --config.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, tempDir } from "../helpers/node.ts";
import { loadOrCreateIdentity } from "../../src/identity/identity.ts";

function issuer(jwt: string): string {
  return (JSON.parse(Buffer.from(jwt.trim().split(".")[1]!, "base64url").toString("utf8")) as { iss: string }).iss;
}

const issue = ["token", "issue", "--action", "publish", "--path", "live/x"];

describe("slowdrip token issue reads the config", () => {
  it("signs with the key of the data dir named by --data-dir, the environment, or the config file", async () => {
    const cwd = tempDir();
    const a = tempDir();
    const b = tempDir();
    const c = tempDir();
    const ids = [a, b, c].map((d) => loadOrCreateIdentity(d).identity.nodeId);
    const conf = join(cwd, "etc-slowdrip.yaml");
    writeFileSync(conf, `node:\n  data_dir: "${c}"\n`);
    const byFlag = await runCli([...issue, "--data-dir", a], { cwd });
    expect(byFlag.code, byFlag.stderr).toBe(0);
    expect(issuer(byFlag.stdout)).toBe(ids[0]);
    const byEnv = await runCli(issue, { cwd, env: { SLOWDRIP_NODE_DATA_DIR: b } });
    expect(byEnv.code, byEnv.stderr).toBe(0);
    expect(issuer(byEnv.stdout)).toBe(ids[1]);
    const byFile = await runCli([...issue, "--config", conf], { cwd });
    expect(byFile.code, byFile.stderr).toBe(0);
    expect(issuer(byFile.stdout)).toBe(ids[2]);
    const byConfigEnv = await runCli(issue, { cwd, env: { SLOWDRIP_CONFIG: conf } });
    expect(issuer(byConfigEnv.stdout)).toBe(ids[2]);
    // The flag wins over the environment and the file, as everywhere.
    const both = await runCli([...issue, "--config", conf, "--data-dir", a], { cwd, env: { SLOWDRIP_NODE_DATA_DIR: b } });
    expect(issuer(both.stdout)).toBe(ids[0]);
    // No key where the config points: a clear error naming the file.
    const none = await runCli(issue, { cwd });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(join(cwd, "data", "keypair"));
    const bad = await runCli([...issue, "--set", "node.nope=1"], { cwd });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/node\.nope/);
  }, 120_000);
});
