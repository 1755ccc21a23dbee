/**
 * A real Sentinel topology for tests: a master, one replica and three sentinels (quorum 2),
 * each a Debian redis-server on a free loopback port, files in a temporary directory. Resolves
 * once the sentinels agree on the master and know each other and the replica, and the replica
 * is in sync; every wait is bounded.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import {
  freePort,
  type RedisServer,
  startRedisProcess,
  startRedisServer,
  tempDir,
} from "./fixtures.ts";
import {
  type Address,
  LOOPBACK,
  nodeCommand,
  nodeInfo,
  pairs,
  waitUntil,
} from "./topology-process.ts";

export const SENTINEL_MASTER_NAME = "paycore";
const DOWN_AFTER_MS = 1_000;
const READY_TIMEOUT_MS = 20_000;
/** From the fault to the sentinels agreeing on a new master: down-after, vote, promotion. */
const FAILOVER_TIMEOUT_MS = 20_000;

/**
 * Data nodes sync at once: Redis 7 delays a diskless full sync by 5 s by default, waiting for
 * more replicas to join.
 */
export const DATA_NODE_ARGS = ["--repl-diskless-sync-delay", "0"];

export interface SentinelTopologyOptions {
  /**
   * `sentinel failover-timeout`, ms. It also bounds how long a sentinel leaves a replica that
   * follows another master alone before it re-points it (+fix-slave-config).
   */
  failoverTimeoutMs?: number;
}

export interface Fault {
  /** The port of the master that was killed or demoted. */
  oldMaster: number;
  /** performance.now() and Date.now() when the fault was triggered. */
  at: number;
  atEpochMs: number;
}

export class SentinelTopology {
  readonly name = SENTINEL_MASTER_NAME;
  readonly #nodes = new Map<number, RedisServer>();
  readonly #clients: Redis[] = [];
  readonly #killed: number[] = [];

  private constructor(
    readonly dir: string,
    readonly sentinels: readonly RedisServer[],
    nodes: readonly RedisServer[],
  ) {
    for (const node of nodes) this.#nodes.set(node.port, node);
  }

  static async start(options: SentinelTopologyOptions = {}): Promise<SentinelTopology> {
    const dir = tempDir("sentinel");
    const started: RedisServer[] = [];
    try {
      const master = await startRedisServer(await freePort(), dir, DATA_NODE_ARGS);
      started.push(master);
      const replica = await startRedisServer(await freePort(), dir, [
        ...DATA_NODE_ARGS,
        "--replicaof",
        LOOPBACK,
        String(master.port),
      ]);
      started.push(replica);
      await waitUntil(
        "the replica to sync",
        async () => (await nodeInfo(replica.port, "replication")).master_link_status === "up",
        READY_TIMEOUT_MS,
      );
      const sentinels: RedisServer[] = [];
      for (let i = 0; i < 3; i++) {
        const sentinel = await startSentinel(dir, master.port, options);
        started.push(sentinel);
        sentinels.push(sentinel);
      }
      const topology = new SentinelTopology(dir, sentinels, [master, replica]);
      await topology.waitHealthy(master.port, 1);
      return topology;
    } catch (error) {
      for (const server of started) server.kill();
      throw error;
    }
  }

  get sentinelAddresses(): Address[] {
    return this.sentinels.map((sentinel) => ({ host: LOOPBACK, port: sentinel.port }));
  }

  /** The worker's settings for this topology. */
  env(): Record<string, string> {
    return {
      REDIS_SENTINELS: this.sentinelAddresses.map((a) => `${a.host}:${a.port}`).join(","),
      REDIS_SENTINEL_MASTER: this.name,
    };
  }

  /** A client that finds the master through the sentinels and follows failovers. */
  client(): Redis {
    const client = new Redis({
      sentinels: this.sentinelAddresses,
      name: this.name,
      maxRetriesPerRequest: null,
      // Switches on +switch-master: after SENTINEL FAILOVER the old master accepts writes
      // until a sentinel demotes it, which takes ~10 s.
      failoverDetector: true,
      sentinelRetryStrategy: () => 100,
      retryStrategy: () => 100,
    });
    client.on("error", () => {}); // reconnects by itself; commands wait in the offline queue
    // The failover detector can close the connector while it is reopening, and ioredis then
    // ends the connection for good (seen in CI): open it again, as the worker's untilReady does.
    client.on("end", () => {
      if (this.#clients.includes(client)) client.connect().catch(() => {});
    });
    this.#clients.push(client);
    return client;
  }

  /** The master's port as the first sentinel that answers sees it. */
  async currentMaster(): Promise<number> {
    let lastError: unknown;
    for (const sentinel of this.sentinels) {
      try {
        const [, port] = (await nodeCommand(sentinel.port, [
          "SENTINEL",
          "GET-MASTER-ADDR-BY-NAME",
          this.name,
        ])) as [string, string];
        return Number(port);
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(`no sentinel answered: ${String(lastError)}`);
  }

  /** The ports of the data nodes that are running (master and replicas). */
  get liveNodes(): number[] {
    return [...this.#nodes.keys()];
  }

  /** kill -9 of the current master; resolves at once (see waitForNewMaster). */
  async killMaster(): Promise<Fault> {
    const oldMaster = await this.currentMaster();
    const node = this.#nodes.get(oldMaster);
    if (!node) throw new Error(`the master on port ${oldMaster} is not one of this topology's`);
    const fault = { oldMaster, at: performance.now(), atEpochMs: Date.now() };
    node.kill();
    this.#nodes.delete(oldMaster);
    this.#killed.push(oldMaster);
    return fault;
  }

  /**
   * Starts the node killed last again, empty, as a replica of `master`, and waits until the
   * sentinels see it in sync: the topology can fail over once more. Nothing when none was.
   */
  async restartKilledAsReplica(master: number): Promise<void> {
    const port = this.#killed.pop();
    if (port === undefined) return;
    const node = await startRedisServer(port, this.dir, [
      ...DATA_NODE_ARGS,
      "--replicaof",
      LOOPBACK,
      String(master),
    ]);
    this.#nodes.set(port, node);
    await this.waitHealthy(master, 1);
  }

  /**
   * SENTINEL FAILOVER; resolves at once. The old master accepts writes until a sentinel
   * demotes it into a replica of the new one (~10 s later): what is written there meanwhile is
   * lost, and WAIT 1 there answers 0 since its replica left.
   */
  async sentinelFailover(): Promise<Fault> {
    const oldMaster = await this.currentMaster();
    const fault = { oldMaster, at: performance.now(), atEpochMs: Date.now() };
    const sentinel = this.sentinels[0] as RedisServer;
    await nodeCommand(sentinel.port, ["SENTINEL", "FAILOVER", this.name]);
    return fault;
  }

  /** Waits until every sentinel names a master other than oldMaster and it says it is one. */
  async waitForNewMaster(oldMaster: number, timeoutMs = FAILOVER_TIMEOUT_MS): Promise<number> {
    let newMaster = 0;
    await waitUntil(
      `the sentinels to promote a master other than ${oldMaster}`,
      async () => {
        const seen = await this.#mastersSeen();
        const [first] = seen;
        if (first === undefined || first === oldMaster || seen.some((p) => p !== first)) {
          return false;
        }
        const [role] = (await nodeCommand(first, ["ROLE"])) as [string];
        newMaster = first;
        return role === "master";
      },
      timeoutMs,
    );
    return newMaster;
  }

  /**
   * Waits until every sentinel agrees on `master`, knows the two other sentinels, and sees at
   * least `replicas` replicas up and linked, and the master has them online.
   */
  async waitHealthy(master: number, replicas: number, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    await waitUntil(
      `the sentinels to agree on master ${master} with ${replicas} replica(s) in sync`,
      async () => {
        const info = await nodeInfo(master, "replication");
        if (info.role !== "master") return false;
        const online = Object.entries(info).filter(
          ([key, value]) => /^slave\d+$/.test(key) && value.includes("state=online"),
        ).length;
        if (online < replicas) return false;
        for (const sentinel of this.sentinels) {
          const view = pairs(await nodeCommand(sentinel.port, ["SENTINEL", "MASTER", this.name]));
          if (Number(view.port) !== master || view.flags !== "master") return false;
          if (Number(view["num-other-sentinels"]) < 2) return false;
          const known = (await nodeCommand(sentinel.port, [
            "SENTINEL",
            "REPLICAS",
            this.name,
          ])) as unknown[];
          const healthy = known
            .map(pairs)
            .filter((r) => r.flags === "slave" && r["master-link-status"] === "ok");
          if (healthy.length < replicas) return false;
        }
        return true;
      },
      timeoutMs,
    );
  }

  /** The data nodes that replicate `master` now (INFO replication on each live node). */
  async replicasOf(master: number): Promise<number[]> {
    const replicas: number[] = [];
    for (const port of this.liveNodes) {
      if (port === master) continue;
      const info = await nodeInfo(port, "replication");
      if (info.role === "slave" && Number(info.master_port) === master) replicas.push(port);
    }
    return replicas;
  }

  /** Every process and client of the topology, killed; safe to call twice. */
  stop(): void {
    for (const client of this.#clients.splice(0)) client.disconnect();
    for (const sentinel of this.sentinels) sentinel.kill();
    for (const node of this.#nodes.values()) node.kill();
    this.#nodes.clear();
  }

  async #mastersSeen(): Promise<number[]> {
    const seen: number[] = [];
    for (const sentinel of this.sentinels) {
      const [, port] = (await nodeCommand(sentinel.port, [
        "SENTINEL",
        "GET-MASTER-ADDR-BY-NAME",
        this.name,
      ])) as [string, string];
      seen.push(Number(port));
    }
    return seen;
  }
}

async function startSentinel(
  dir: string,
  masterPort: number,
  options: SentinelTopologyOptions,
): Promise<RedisServer> {
  const port = await freePort();
  const file = join(dir, `sentinel-${port}.conf`);
  const logFile = join(dir, `sentinel-${port}.log`);
  // A sentinel rewrites its configuration file (known sentinels, replicas, epochs): one each.
  writeFileSync(
    file,
    [
      `port ${port}`,
      `bind ${LOOPBACK}`,
      "daemonize no",
      `dir ${dir}`,
      `logfile ${logFile}`,
      `sentinel monitor ${SENTINEL_MASTER_NAME} ${LOOPBACK} ${masterPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${DOWN_AFTER_MS}`,
      `sentinel failover-timeout ${SENTINEL_MASTER_NAME} ${options.failoverTimeoutMs ?? 5_000}`,
      `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
      "",
    ].join("\n"),
  );
  return startRedisProcess([file, "--sentinel"], port, logFile);
}
