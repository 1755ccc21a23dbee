/**
 * Compile-only: `bun run typecheck` checks this file. Config is derived from the settings table
 * (src/config/settings.ts); these lines pin what that derivation gives, and each
 * `@ts-expect-error` a mismatch it must refuse.
 */
import type { Config, LogLevel } from "../../src/config/config.ts";

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(_proof: Equal<A, B>): void => {};

same<Config["redisUrl"], string>(true);
same<Config["batchSize"], number>(true);
same<Config["enableEventConsumer"], boolean>(true);
same<Config["logLevel"], LogLevel>(true);
same<Config["httpPort"], number | undefined>(true);
same<Config["databaseAuthToken"], string | undefined>(true);
same<Config["databaseUrl"], string>(true);
same<Config["databaseFilePath"], string | undefined>(true);
same<Config["signingSecrets"], readonly string[]>(true);

declare const config: Config;
// @ts-expect-error a variable with toConfig has no field named after it
config.paycoreSigningSecret;
// @ts-expect-error no such setting
config.batchSise;
// @ts-expect-error Config is read-only
config.batchSize = 1;

same<Config["redisTopology"]["kind"], "standalone" | "sentinel" | "cluster">(true);
same<Config["deadLetterStream"], string>(true);
// @ts-expect-error the topology settings are read into redisTopology only
config.redisSentinels;
