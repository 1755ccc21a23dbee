/**
 * `coursepay config`: every setting of the settings table with the value in force (redacted as
 * errors redact it), where it comes from, its default and what it accepts. It reads only the
 * environment: no Redis, no database.
 */
import { ConfigError } from "../config/config.ts";
import { configWarnings } from "../config/config-warnings.ts";
import { reportSettings, type SettingReport } from "../config/settings-report.ts";
import { escapeForTerminal } from "../observe/terminal-text.ts";
import { EXIT_OK, EXIT_USAGE } from "./usage-error.ts";

const WIDTH = 100;

/** Words wrapped to lines of at most `width` characters, each line indented. */
function wrap(text: string, indent: string, width = WIDTH): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines.map((l) => `${indent}${l}`).join("\n");
}

export function formatReport(settings: readonly SettingReport[]): string {
  return settings
    .map((s) => {
      const value =
        s.error !== undefined
          ? `INVALID: ${escapeForTerminal(s.error)}`
          : s.value === null
            ? "(unset)"
            : `${escapeForTerminal(s.value)}${s.source === "default" ? "  (default)" : ""}`;
      return [
        `${s.variable} = ${value}`,
        `    default: ${s.default}`,
        wrap(`accepts: ${s.accepts}`, "    "),
      ].join("\n");
    })
    .join("\n\n");
}

export function showConfig(options: { json?: boolean | undefined }): number {
  const { settings, issues } = reportSettings(process.env);
  const warnings = configWarnings();
  if (options.json) {
    console.log(JSON.stringify(settings, null, 2));
  } else {
    console.log(formatReport(settings));
    for (const warning of warnings) console.log(`\nwarning: ${escapeForTerminal(warning)}`);
  }
  if (issues.length === 0) return EXIT_OK;
  // The same message serve would stop with, on stderr.
  console.error(`coursepay: ${new ConfigError(issues).message}`);
  return EXIT_USAGE;
}
