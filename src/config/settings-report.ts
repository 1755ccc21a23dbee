/**
 * Every setting with the value in force, shown as errors show it (secrets only as set or not,
 * URLs without passwords), where it comes from, its default and what it accepts: for
 * `coursepay config` and serve's start-up log. Reads only the environment given.
 */
import * as v from "valibot";
import { ConfigError, type ConfigIssue, loadConfig, settingInputs } from "./config.ts";
import { redactUrl } from "./redact.ts";
import type { Database } from "./setting-schemas.ts";
import { SETTING_NAMES, SETTINGS, type Setting, type SettingName } from "./settings.ts";
import { defaultMarkdown } from "./settings-doc.ts";

export interface SettingReport {
  variable: SettingName;
  /** The value in force, redacted; null when unset without a default, or invalid. */
  value: string | null;
  source: "environment" | "default" | "unset";
  /** The default in words (`—` for none). */
  default: string;
  accepts: string;
  /** Why start-up would refuse this value. */
  error?: string;
}

/** The report of every setting for `env`, and the issues loadConfig would stop start-up with. */
export function reportSettings(env: Record<string, string | undefined>): {
  settings: SettingReport[];
  issues: ConfigIssue[];
} {
  const input = settingInputs(env);
  let issues: ConfigIssue[] = [];
  try {
    loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    issues = error.issues;
  }
  const settings = SETTING_NAMES.map((variable): SettingReport => {
    const entry: Setting = SETTINGS[variable];
    const set = Object.hasOwn(input, variable);
    const issue = issues.find((i) => i.variable === variable);
    const parsed = v.safeParse(entry.schema, input[variable]);
    const value = (parsed.success ? shownValue(entry, parsed.output) : undefined) ?? null;
    return {
      variable,
      value: issue === undefined ? value : null,
      source: set ? "environment" : value === null ? "unset" : "default",
      default: defaultMarkdown(variable).replaceAll("`", ""),
      accepts: entry.accepts,
      ...(issue === undefined ? {} : { error: issue.message }),
    };
  });
  return { settings, issues };
}

/** A parsed value as it may be shown: secrets only as set or not, URLs without passwords. */
function shownValue(entry: Setting, output: unknown): string | undefined {
  if (output === undefined) return undefined;
  if (entry.exposure === "secret") {
    return Array.isArray(output) ? `(set: ${plural(output.length, "secret")})` : "(set)";
  }
  if (entry.exposure === "url") {
    const url = typeof output === "string" ? output : (output as Database).url;
    return redactUrl(url);
  }
  return String(output);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** `{ REDIS_URL: "redis://:***@h:6379", … }`: the values in force, redacted, for a log line. */
export function settingsInForce(
  env: Record<string, string | undefined>,
): Record<string, string | null> {
  return Object.fromEntries(reportSettings(env).settings.map((s) => [s.variable, s.value]));
}
