/**
 * A real Redis Cluster for tests: three masters and three replicas, Debian redis-server nodes
 * on free loopback ports (each port and its bus port, port + 10000, free), joined by
 * `redis-cli --cluster create … --cluster-replicas 1`. Resolves once every node says
 * cluster_state:ok and every replica is in sync; every wait is bounded.
 */
import Redis, { type Cluster } from "ioredis";
import { type RedisServer, startRedisServer, tempDir } from "./fixtures.ts";
import { DATA_NODE_ARGS, type Fault } from "./sentinel-topology.ts";
import {
  freeClusterPort,
  LOOPBACK,
  nodeCommand,
  nodeInfo,
  parseInfo,
  waitUntil,
} from "./topology-process.ts";

/** Short, so a killed master's replica takes over in ~2–3 s, yet above a busy machine's stalls. */
export const CLUSTER_NODE_TIMEOUT_MS = 1_500;
const CREATE_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 20_000;
const FAILOVER_TIMEOUT_MS = 20_000;

export interface ClusterNodeView {
  port: number;
  role: "master" | "slave";
  /** The master's port, for a replica. */
  masterPort?: number;
  failed: boolean;
  hasSlots: boolean;
}

export class ClusterTopology {
  readonly #nodes = new Map<number, RedisServer>();
  readonly #clients: Cluster[] = [];

  private constructor(
    readonly dir: string,
    nodes: readonly RedisServer[],
  ) {
    for (const node of nodes) this.#nodes.set(node.port, node);
  }

  static async start(): Promise<ClusterTopology> {
    const dir = tempDir("cluster");
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const port = await freeClusterPort();
        nodes.push(
          await startRedisServer(port, dir, [
            ...DATA_NODE_ARGS,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            `nodes-${port}.conf`,
            "--cluster-node-timeout",
            String(CLUSTER_NODE_TIMEOUT_MS),
          ]),
        );
      }
      await createCluster(nodes.map((node) => node.port));
      const topology = new ClusterTopology(dir, nodes);
      await topology.waitHealthy();
      return topology;
    } catch (error) {
      for (const node of nodes) node.kill();
      throw error;
    }
  }

  /** The ports of the nodes still running. */
  get liveNodes(): number[] {
    return [...this.#nodes.keys()];
  }

  /** The worker's settings: every node as a seed. */
  env(): Record<string, string> {
    return { REDIS_CLUSTER_NODES: this.liveNodes.map((port) => `${LOOPBACK}:${port}`).join(",") };
  }

  /** ioredis's cluster client; it follows MOVED and failovers, commands wait while it does. */
  client(): Cluster {
    const client = new Redis.Cluster(
      this.liveNodes.map((port) => ({ host: LOOPBACK, port })),
      {
        redisOptions: { maxRetriesPerRequest: null },
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 200,
        clusterRetryStrategy: () => 200,
        slotsRefreshTimeout: 2_000,
      },
    );
    client.on("error", () => {}); // it reconnects by itself
    this.#clients.push(client);
    return client;
  }

  /** Each node as the first live node that answers sees it (CLUSTER NODES). */
  async view(): Promise<ClusterNodeView[]> {
    let lastError: unknown;
    for (const port of this.liveNodes) {
      try {
        return parseClusterNodes(String(await nodeCommand(port, ["CLUSTER", "NODES"])));
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(`no cluster node answered: ${String(lastError)}`);
  }

  /** The port of the master that owns `key`'s slot, as a live node sees it. */
  async masterOf(key: string, askPort = this.liveNodes[0] as number): Promise<number> {
    const slot = Number(await nodeCommand(askPort, ["CLUSTER", "KEYSLOT", key]));
    const ranges = (await nodeCommand(askPort, ["CLUSTER", "SLOTS"])) as [
      number,
      number,
      [string, number],
    ][];
    const range = ranges.find(([start, end]) => start <= slot && slot <= end);
    if (!range) throw new Error(`slot ${slot} of ${key} has no master`);
    return Number(range[2][1]);
  }

  /** The live replica of `master`. */
  async replicaOf(master: number): Promise<number> {
    const replica = (await this.view()).find(
      (node) => node.role === "slave" && node.masterPort === master && !node.failed,
    );
    if (!replica || !this.#nodes.has(replica.port)) throw new Error(`${master} has no replica`);
    return replica.port;
  }

  /** CLUSTER FAILOVER on the replica of `key`'s master; resolves at once. */
  async manualFailover(key: string): Promise<Fault> {
    const oldMaster = await this.masterOf(key);
    const replica = await this.replicaOf(oldMaster);
    const fault = { oldMaster, at: performance.now(), atEpochMs: Date.now() };
    await nodeCommand(replica, ["CLUSTER", "FAILOVER"]);
    return fault;
  }

  /** kill -9 of the master that owns `key`'s slot; resolves at once. */
  async killMasterOf(key: string): Promise<Fault> {
    const oldMaster = await this.masterOf(key);
    const fault = { oldMaster, at: performance.now(), atEpochMs: Date.now() };
    this.#nodes.get(oldMaster)?.kill();
    this.#nodes.delete(oldMaster);
    return fault;
  }

  /** Waits until every live node names a new owner of `key`'s slot and says cluster_state:ok. */
  async waitForNewMasterOf(
    key: string,
    oldMaster: number,
    timeoutMs = FAILOVER_TIMEOUT_MS,
  ): Promise<number> {
    let newMaster = 0;
    await waitUntil(
      `a master other than ${oldMaster} to own the slot of ${key} on every node`,
      async () => {
        for (const port of this.liveNodes) {
          const owner = await this.masterOf(key, port);
          if (owner === oldMaster || (newMaster !== 0 && owner !== newMaster)) return false;
          newMaster = owner;
        }
        return this.#allSayOk();
      },
      timeoutMs,
    );
    return newMaster;
  }

  /**
   * Waits until every live node says cluster_state:ok, sees the same three masters and at
   * least `replicas` replicas, and every live replica is linked to its master. (redis-cli
   * --cluster create may return before its CLUSTER REPLICATE calls took effect everywhere.)
   */
  async waitHealthy(replicas = 3, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    await waitUntil(
      `every cluster node to say cluster_state:ok, agree on the masters, see ${replicas} replicas in sync`,
      async () => {
        if (!(await this.#allSayOk())) return false;
        const views: string[] = [];
        for (const port of this.liveNodes) {
          const nodes = parseClusterNodes(String(await nodeCommand(port, ["CLUSTER", "NODES"])));
          const masters = nodes
            .filter((n) => n.role === "master" && n.hasSlots && !n.failed)
            .map((n) => n.port);
          views.push(masters.sort().join(","));
          const linked = nodes.filter((n) => n.role === "slave" && !n.failed);
          if (masters.length !== 3 || linked.length < replicas) return false;
          const info = await nodeInfo(port, "replication");
          if (info.role === "slave" && info.master_link_status !== "up") return false;
        }
        return new Set(views).size === 1;
      },
      timeoutMs,
    );
  }

  /** Every process and client of the cluster, killed; safe to call twice. */
  stop(): void {
    for (const client of this.#clients.splice(0)) client.disconnect();
    for (const node of this.#nodes.values()) node.kill();
    this.#nodes.clear();
  }

  async #allSayOk(): Promise<boolean> {
    for (const port of this.liveNodes) {
      const info = parseInfo(String(await nodeCommand(port, ["CLUSTER", "INFO"])));
      if (info.cluster_state !== "ok") return false;
    }
    return true;
  }
}

/** CLUSTER NODES lines: `<id> <ip:port@bus> <flags> <master-id> <ping> <pong> <epoch> <link> <slots…>`. */
export function parseClusterNodes(text: string): ClusterNodeView[] {
  const lines = text
    .trim()
    .split("\n")
    .map((line) => line.trim().split(" "));
  const portById = new Map(lines.map((f) => [f[0], Number(/:(\d+)@/.exec(f[1] ?? "")?.[1])]));
  return lines.map((fields) => {
    const flags = (fields[2] ?? "").split(",");
    const masterId = fields[3] ?? "-";
    return {
      port: portById.get(fields[0]) ?? 0,
      role: flags.includes("master") ? "master" : "slave",
      masterPort: masterId === "-" ? undefined : portById.get(masterId),
      failed: flags.includes("fail") || flags.includes("fail?"),
      hasSlots: fields.length > 8,
    };
  });
}

async function createCluster(ports: readonly number[]): Promise<void> {
  const create = Bun.spawn(
    [
      "redis-cli",
      "--cluster",
      "create",
      ...ports.map((port) => `${LOOPBACK}:${port}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes",
    ],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  const timer = setTimeout(() => create.kill("SIGKILL"), CREATE_TIMEOUT_MS);
  const [code, out, err] = await Promise.all([
    create.exited,
    new Response(create.stdout).text(),
    new Response(create.stderr).text(),
  ]);
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`redis-cli --cluster create exited ${code} (bound ${CREATE_TIMEOUT_MS} ms):
${out.slice(-2_000)}${err.slice(-2_000)}`);
  }
}
