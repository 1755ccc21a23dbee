/**
 * What this program is: its version, the commit and build it came from, and the Bun runtime it
 * runs on. The one source for `--version`, serve's start-up log and any build-info metric.
 *
 * build.ts embeds the build's values (`define: { COURSEPAY_BUILD }`); under `bun src/main.ts`
 * nothing is embedded, so the version is package.json's (or COURSEPAY_VERSION) and the commit,
 * dirty flag and build date are unknown.
 */
import pkg from "../package.json" with { type: "json" };

/** Embedded by build.ts; undefined when running from source. */
declare const COURSEPAY_BUILD:
  | { version: string; commit: string; dirty: boolean; builtAt: string; target: string }
  | undefined;

export interface BuildInfo {
  /** `0.1.0+abc1234` in a build from a git checkout, else package.json's version. */
  readonly version: string;
  /** The short commit hash, or undefined (from source, or built outside git). */
  readonly commit: string | undefined;
  /** The working tree had uncommitted changes at build time; undefined when not known. */
  readonly dirty: boolean | undefined;
  /** ISO 8601 build time (SOURCE_DATE_EPOCH when set); undefined from source. */
  readonly builtAt: string | undefined;
  /** The Bun runtime this process runs on. */
  readonly bun: string;
  /** The compile target (`bun-linux-x64`, …), or `source` under `bun src/main.ts`. */
  readonly target: string;
}

const embedded = typeof COURSEPAY_BUILD === "undefined" ? undefined : COURSEPAY_BUILD;

export const buildInfo: BuildInfo = Object.freeze({
  version: embedded?.version ?? process.env.COURSEPAY_VERSION ?? pkg.version,
  commit: embedded?.commit || undefined,
  dirty: embedded?.dirty,
  builtAt: embedded?.builtAt,
  bun: Bun.version,
  target: embedded?.target ?? "source",
});

export const VERSION: string = buildInfo.version;

/** `--version`: the version on the first line, then one `name: value` line each. */
export function formatBuildInfo(info: BuildInfo = buildInfo): string {
  const commit =
    info.commit === undefined
      ? "unknown"
      : `${info.commit}${info.dirty === true ? " (dirty: uncommitted changes)" : ""}`;
  return [
    `coursepay ${info.version}`,
    `commit: ${commit}`,
    `built:  ${info.builtAt ?? "not built (running from source)"}`,
    `bun:    ${info.bun}`,
    `target: ${info.target}`,
  ].join("\n");
}
