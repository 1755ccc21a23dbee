import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { CONFIG_VARIABLES, configKey, loadConfig } from "../../src/config/config.ts";
import { SETTING_NAMES } from "../../src/config/settings.ts";
import {
  BEGIN_MARKER,
  END_MARKER,
  settingsMarkdownTable,
  spliceSettingsTable,
} from "../../src/config/settings-doc.ts";
import { REPO_ROOT } from "../support/binary.ts";

const readme = await Bun.file(join(REPO_ROOT, "README.md")).text();

describe("the README's configuration table", () => {
  test("is the one generated from the settings table (else: bun run docs:settings)", () => {
    expect(readme).toContain(BEGIN_MARKER);
    expect(spliceSettingsTable(readme)).toBe(readme);
  });

  test("a row edited by hand, or a setting added without regenerating, is drift", () => {
    const edited = readme.replace("| `BATCH_SIZE` | `500` |", "| `BATCH_SIZE` | `200` |");
    expect(edited).not.toBe(readme);
    expect(spliceSettingsTable(edited)).not.toBe(edited);
    const missingRow = readme.replace(/^\| `HTTP_HOST` .*\n/m, "");
    expect(spliceSettingsTable(missingRow)).not.toBe(missingRow);
  });

  test("has one row per variable loadConfig reads, in its order, then 'anything else'", () => {
    const rows = settingsMarkdownTable()
      .split("\n")
      .slice(2)
      .map((row) => /^\| (`?)([^|`]+)\1 \|/.exec(row)?.[2]);
    expect(rows).toEqual([...CONFIG_VARIABLES, "anything else"]);
    expect(SETTING_NAMES).toEqual([...CONFIG_VARIABLES] as typeof SETTING_NAMES);
  });

  test("shows the defaults loadConfig applies", () => {
    const config = loadConfig({});
    const table = settingsMarkdownTable();
    expect(table).toContain(`| \`REDIS_URL\` | \`${config.redisUrl}\` |`);
    expect(table).toContain(`| \`BATCH_SIZE\` | \`${config.batchSize}\` |`);
    expect(table).toContain("| `CONSUMER_NAME` | the host name |");
    expect(table).toContain("| `HTTP_PORT` | — |");
  });

  test("missing markers are an error, not a silent no-op", () => {
    expect(() => spliceSettingsTable("# README\n")).toThrow(END_MARKER);
  });
});

describe("Config, derived from the settings table", () => {
  test("has one field per setting named after it, or the fields its entry maps it to", () => {
    const config = loadConfig({ HTTP_PORT: "8080" });
    const mapped = [
      "DATABASE_URL",
      "PAYCORE_SIGNING_SECRET",
      // The topology's settings: read together into redisTopology.
      "REDIS_SENTINELS",
      "REDIS_SENTINEL_MASTER",
      "REDIS_SENTINEL_PASSWORD",
      "REDIS_CLUSTER_NODES",
    ];
    const named = SETTING_NAMES.filter((variable) => !mapped.includes(variable)).map(configKey);
    const derived = ["redisTopology", "deadLetterStream"];
    expect(Object.keys(config).sort()).toEqual(
      [...named, "databaseUrl", "databaseFilePath", "signingSecrets", ...derived].sort(),
    );
    expect(configKey("MAX_EVENT_BYTES")).toBe("maxEventBytes");
    expect(config.httpPort).toBe(8080);
    expect(config.signingSecrets).toEqual([]);
    expect(Object.isFrozen(config)).toBe(true);
  });
});
