/**
 * The bun test preload (bunfig.toml [test] preload): unless REDIS_URL is set, starts a
 * throwaway redis-server on a free loopback port for the whole run, sets REDIS_URL so every test
 * file sees it, and stops it when the run ends.
 *
 * Subprocesses started with Bun.spawn do not see the REDIS_URL set here unless they are given
 * `env: process.env` (or an env naming it): Bun.spawn's default env is the one Bun started with.
 */
import { afterAll } from "bun:test";
import {
  cleanUpTestResources,
  removeStaleTempRoots,
  startRedisOnFreePort,
  tempDir,
} from "./fixtures.ts";

removeStaleTempRoots();

if (!process.env.REDIS_URL) {
  const server = await startRedisOnFreePort(tempDir("redis"));
  process.env.REDIS_URL = server.url;
}

// Runs once, after the last test file.
afterAll(cleanUpTestResources);

// Ctrl-C or a kill of the run: exit through process.exit so fixtures.ts's "exit" hook stops
// the servers and removes the temporary files.
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
  ["SIGHUP", 129],
] as const) {
  process.once(signal, () => process.exit(code));
}
