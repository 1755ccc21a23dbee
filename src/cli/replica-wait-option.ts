/** `--wait-replicas N` of the simulate commands, as the WAIT they send after publishing. */
import type { ReplicaWait } from "../simulator/confirmed-send.ts";
import { UsageError } from "./usage-error.ts";

/** The longest WAIT; also at most half of REDIS_TIMEOUT_MS, so WAIT's reply beats that timeout. */
const MAX_WAIT_TIMEOUT_MS = 1_000;

/** `--wait-replicas N` (1 to 100) as the WAIT simulate sends; undefined when not given. */
export function replicaWait(
  text: string | undefined,
  redisTimeoutMs: number,
  command = "simulate",
): ReplicaWait | undefined {
  if (text === undefined) return undefined;
  const replicas = /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN;
  if (!(replicas >= 1 && replicas <= 100)) {
    throw new UsageError(
      `${command}: --wait-replicas expects a whole number from 1 to 100, got ${JSON.stringify(text)}`,
    );
  }
  return { replicas, timeoutMs: Math.min(MAX_WAIT_TIMEOUT_MS, Math.floor(redisTimeoutMs / 2)) };
}
