/**
 * Which Redis the worker talks to: one server (`REDIS_URL`), a master found through Sentinel
 * (`REDIS_SENTINELS` + `REDIS_SENTINEL_MASTER`) or a cluster (`REDIS_CLUSTER_NODES`). Pure:
 * parses the address lists, finds contradictory settings, and names the dead-letter stream,
 * whose name depends on the topology (a cluster needs it in the stream's slot).
 */
import { hashTagOf } from "../stream/key-slot.ts";
import { redactUrl } from "./redact.ts";

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

export type RedisTopology =
  | { readonly kind: "standalone" }
  | {
      readonly kind: "sentinel";
      readonly sentinels: readonly RedisAddress[];
      readonly masterName: string;
      readonly sentinelPassword?: string | undefined;
    }
  | { readonly kind: "cluster"; readonly nodes: readonly RedisAddress[] };

export type TopologyKind = RedisTopology["kind"];

export const DEFAULT_SENTINEL_PORT = 26379;
export const DEFAULT_CLUSTER_PORT = 6379;

export type AddressList = { ok: true; addresses: RedisAddress[] } | { ok: false; problem: string };

/**
 * `host:port,host:port,…` (spaces around items allowed; `[::1]:26379` for IPv6; a missing port
 * is `defaultPort`). Refuses empty items, bad ports and duplicates, naming the item.
 */
export function parseAddressList(text: string, defaultPort: number): AddressList {
  const addresses: RedisAddress[] = [];
  const seen = new Set<string>();
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") return { ok: false, problem: "an empty item" };
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/@]+))(?::(\d{1,5}))?$/.exec(item);
    const host = match?.[1] ?? match?.[2];
    const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
    if (match === null || host === undefined) return { ok: false, problem: `"${item}"` };
    if (port < 1 || port > 65_535) return { ok: false, problem: `"${item}" (port 1–65535)` };
    const address = { host, port };
    const key = formatAddress(address);
    if (seen.has(key)) return { ok: false, problem: `"${item}" twice` };
    seen.add(key);
    addresses.push(address);
  }
  return { ok: true, addresses };
}

/** `host:port`, `[v6]:port`. */
export function formatAddress(address: RedisAddress): string {
  return address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/** The topology settings as set (trimmed text; blank counts as unset). */
export interface TopologyInput {
  REDIS_URL?: string | undefined;
  REDIS_SENTINELS?: string | undefined;
  REDIS_SENTINEL_MASTER?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
  REDIS_CLUSTER_NODES?: string | undefined;
  EVENT_STREAM?: string | undefined;
}

export interface TopologyIssue {
  variable: keyof TopologyInput;
  message: string;
}

/** Settings that contradict each other, one issue per variable at fault (empty when none). */
export function topologyIssues(input: TopologyInput): TopologyIssue[] {
  const issues: TopologyIssue[] = [];
  const sentinels = input.REDIS_SENTINELS !== undefined;
  const master = input.REDIS_SENTINEL_MASTER !== undefined;
  const cluster = input.REDIS_CLUSTER_NODES !== undefined;
  if (sentinels && cluster) {
    issues.push({
      variable: "REDIS_CLUSTER_NODES",
      message:
        "set together with REDIS_SENTINELS: choose one topology, Sentinel (REDIS_SENTINELS and REDIS_SENTINEL_MASTER) or a cluster (REDIS_CLUSTER_NODES)",
    });
  }
  if (sentinels && !master) {
    issues.push({
      variable: "REDIS_SENTINEL_MASTER",
      message:
        "required with REDIS_SENTINELS: the name the sentinels know the master by (`sentinel monitor <name> …`)",
    });
  }
  if (master && !sentinels) {
    issues.push({
      variable: "REDIS_SENTINELS",
      message:
        "required with REDIS_SENTINEL_MASTER: the sentinels' addresses, host:port separated by commas",
    });
  }
  if (input.REDIS_SENTINEL_PASSWORD !== undefined && !sentinels && !master) {
    issues.push({
      variable: "REDIS_SENTINEL_PASSWORD",
      message:
        "set without REDIS_SENTINELS and REDIS_SENTINEL_MASTER: it is only used to talk to sentinels",
    });
  }
  const db = input.REDIS_URL === undefined ? 0 : databaseOf(input.REDIS_URL);
  if (cluster && db !== 0) {
    issues.push({
      variable: "REDIS_URL",
      message: `selects database ${db}, but a cluster (REDIS_CLUSTER_NODES) has only database 0: leave REDIS_URL's path empty or /0`,
    });
  }
  const stream = input.EVENT_STREAM;
  if (cluster && stream !== undefined && hashTagOf(stream) === undefined && stream.includes("}")) {
    issues.push({
      variable: "EVENT_STREAM",
      message: `"${stream}" holds a "}" outside a hash tag: in a cluster its dead-letter stream cannot be put in its slot; rename it, or give it a hash tag ({name}…)`,
    });
  }
  return issues;
}

/** The database number in a Redis URL's path (0 when none, or when the URL does not parse). */
function databaseOf(url: string): number {
  const db = /^\/(\d+)$/.exec(URL.parse(url)?.pathname ?? "")?.[1];
  return db === undefined ? 0 : Number(db);
}

/**
 * The topology of settings already checked (each list parses, topologyIssues found nothing).
 * @throws on settings that were not checked (a programming error).
 */
export function redisTopologyOf(input: TopologyInput): RedisTopology {
  const list = (text: string, port: number) => {
    const parsed = parseAddressList(text, port);
    if (!parsed.ok) throw new Error(`unchecked address list: ${parsed.problem}`);
    return Object.freeze(parsed.addresses.map((a) => Object.freeze(a)));
  };
  if (input.REDIS_CLUSTER_NODES !== undefined) {
    return Object.freeze({
      kind: "cluster",
      nodes: list(input.REDIS_CLUSTER_NODES, DEFAULT_CLUSTER_PORT),
    });
  }
  if (input.REDIS_SENTINELS !== undefined && input.REDIS_SENTINEL_MASTER !== undefined) {
    return Object.freeze({
      kind: "sentinel",
      sentinels: list(input.REDIS_SENTINELS, DEFAULT_SENTINEL_PORT),
      masterName: input.REDIS_SENTINEL_MASTER,
      sentinelPassword: input.REDIS_SENTINEL_PASSWORD,
    });
  }
  return Object.freeze({ kind: "standalone" });
}

/**
 * The dead-letter stream of `stream`. Standalone and Sentinel: `<stream>.dlq` (the name
 * operators and their tools know). Cluster: `{<stream>}.dlq`, whose hash tag puts it in the
 * slot of `<stream>` (a key without braces hashes whole), so the script that writes a dead
 * letter and ACKs its entry touches one slot and stays atomic. A stream that has a hash tag
 * already (`{pay}.events`) keeps `<stream>.dlq`: that is in its slot too.
 */
export function deadLetterStreamName(
  stream: string,
  topology: Pick<RedisTopology, "kind"> = { kind: "standalone" },
): string {
  if (topology.kind !== "cluster" || hashTagOf(stream) !== undefined) return `${stream}.dlq`;
  return `{${stream}}.dlq`;
}

/**
 * Where Redis is, for messages and logs (never a password): the URL, `Sentinel master "m" via
 * s1:26379,s2:26379`, or `cluster n1:7000,n2:7001`.
 */
export function describeRedisTarget(target: {
  redisUrl: string;
  redisTopology: RedisTopology;
}): string {
  const topology = target.redisTopology;
  switch (topology.kind) {
    case "standalone":
      return redactUrl(target.redisUrl);
    case "sentinel":
      return `Sentinel master "${topology.masterName}" via ${topology.sentinels.map(formatAddress).join(",")}`;
    case "cluster":
      return `cluster ${topology.nodes.map(formatAddress).join(",")}`;
  }
}
