#!/usr/bin/env bun
/**
 * The only entry: runs the command argv names (src/cli/program.ts) and maps errors to exit codes
 * (0 ok, 1 runtime failure, 2 bad usage, bad configuration or unsupported Redis). It imports
 * nothing else up front, so `--version` and `--help` load no driver.
 */
import { runCli } from "./cli/program.ts";

try {
  process.exitCode = await runCli(process.argv.slice(2));
} catch (error) {
  const { describeFailure } = await import("./cli/describe-failure.ts");
  const { message, code } = describeFailure(error);
  console.error(`coursepay: ${message}`);
  process.exitCode = code;
}
// Open Redis connections or timers must not keep a finished command alive.
process.exit(process.exitCode);
