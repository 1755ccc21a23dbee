/**
 * What a Redis failure means for the consumer, decided in one place (as db/database-errors.ts
 * does for the database), so the loop tests a kind, never a message:
 * - `connection`: the link is down, timed out or was dropped; wait for the reconnect, then
 *   re-read this consumer's pending entries (a lost reply may have delivered some).
 * - `nogroup`: the stream or the group is gone; recreate the group.
 * - `transient`: Redis answered with an error that waiting cures (loading, a failover, busy
 *   with a script, out of memory; a replica refusing a write with READONLY; a cluster's MOVED,
 *   ASK, TRYAGAIN or CLUSTERDOWN that outlived the client's own redirects); retry with backoff.
 *   Never a dead letter, never the end of the worker.
 * - `persistent`: an error reply that waiting will not cure (WRONGTYPE, a script error, a
 *   refused command); log it with the entries concerned and move on without them.
 */
import { ReplyError } from "ioredis";

export type RedisErrorKind = "connection" | "nogroup" | "transient" | "persistent";

/** Error-reply codes (the reply's first word) that a later attempt may not see again. */
const TRANSIENT_CODES = new Set([
  "LOADING",
  "BUSY",
  "MASTERDOWN",
  "READONLY",
  "TRYAGAIN",
  "CLUSTERDOWN",
  "MOVED",
  "ASK",
  "NOREPLICAS",
  "OOM",
  "NOAUTH",
  "UNBLOCKED",
]);

/** ioredis' own errors for a link that is not there (its classes or fixed messages). */
const CONNECTION_MESSAGES = [
  "Connection is closed.",
  "Command timed out",
  "Stream isn't writeable and enableOfflineQueue options is false",
  "Command aborted due to connection close",
  "Socket timeout",
  // The cluster client's: no node to send to, or a failover/resharding that outlasted its
  // retries (TRYAGAIN, CLUSTERDOWN, MOVED or a vanished node, maxRedirections times).
  "Cluster isn't ready and enableOfflineQueue options is false",
  "Too many Cluster redirections",
  "Failed to refresh slots cache",
  "None of startup nodes is available",
  "Cluster is disconnected",
  "Cluster is disconnecting",
  "Cluster is ended",
];

const CONNECTION_ERROR_NAMES = new Set([
  "AbortError",
  "MaxRetriesPerRequestError",
  "InterruptError",
  "ClusterAllFailedError",
]);

export function classifyRedisError(error: unknown): RedisErrorKind {
  if (!(error instanceof Error)) return "persistent";
  if (error instanceof ReplyError || error.name === "ReplyError") {
    const code = replyCode(error);
    if (code === "NOGROUP") return "nogroup";
    return TRANSIENT_CODES.has(code) ? "transient" : "persistent";
  }
  if (CONNECTION_ERROR_NAMES.has(error.name)) return "connection";
  if (typeof (error as NodeJS.ErrnoException).code === "string") return "connection"; // ECONNRESET, …
  if (CONNECTION_MESSAGES.some((message) => error.message.startsWith(message))) return "connection";
  return "persistent";
}

/** The code of an error reply: its first word (`WRONGTYPE`, `NOGROUP`, `ERR`, …). */
export function replyCode(error: Error): string {
  return /^[A-Z]+/.exec(error.message)?.[0] ?? "";
}

/**
 * An error's message without the " script: <sha>, on @user_script:N." Redis adds inside
 * scripts, nor the retry plan ioredis' Sentinel connector appends.
 */
export function redisErrorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (
    message
      .replace(/ script: [0-9a-f]{40}, on @user_script:\d+\.$/, "")
      // ioredis' Sentinel connector says what it will do next; the caller decides that.
      .replace(/^(All sentinels are unreachable\.) Retrying from scratch after \d+ms\./, "$1")
  );
}

/** A failed Redis call as an operator reads it (ioredis' wording names its own options). */
export function describeRedisFailure(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === "MaxRetriesPerRequestError") return "the connection was lost";
    if (error.message.startsWith("Command timed out")) return "no answer within REDIS_TIMEOUT_MS";
    if (error.message.startsWith("Stream isn't writeable")) return "not connected";
    if (error.message.startsWith("Cluster isn't ready")) return "not connected to the cluster";
    if (error.message.startsWith("Too many Cluster redirections")) {
      return `the cluster kept redirecting the command (a failover or resharding under way): ${error.message.replace(/^Too many Cluster redirections\. Last error: /, "")}`;
    }
  }
  return redisErrorMessage(error);
}
