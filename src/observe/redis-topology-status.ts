/**
 * Which Redis `status` is talking to: the server, the master the sentinels named (and that it
 * really is a master), or the cluster's masters and the node that owns the stream's slot.
 * Read-only; the parsing and the wording are pure, the reading is one command at most.
 */
import type Redis from "ioredis";
import type { Cluster } from "ioredis";
import { redactUrl } from "../config/redact.ts";
import { formatAddress, type RedisTopology } from "../config/redis-topology.ts";
import { keySlot } from "../stream/key-slot.ts";
import type { RedisClient } from "../stream/redis-connection.ts";

export type TopologyStatus =
  | { kind: "standalone"; url: string }
  | {
      kind: "sentinel";
      masterName: string;
      /** host:port of the server this connection reached; null when not connected. */
      master: string | null;
      /** What that server says it is (ROLE): `master`, or `slave` right after a failover. */
      role: string | null;
    }
  | {
      kind: "cluster";
      masters: number;
      streamSlot: number;
      /** host:port of the master serving the stream's slot; null when no node serves it. */
      streamNode: string | null;
    };

/** One range of CLUSTER SLOTS: first slot, last slot, master [host, port, id, …], replicas. */
type SlotRange = [number, number, [string, number, string?, ...unknown[]], ...unknown[]];

/** The masters (distinct, by id or address) and the owner of `slot`, from CLUSTER SLOTS. */
export function clusterSlotsSummary(
  ranges: readonly SlotRange[],
  slot: number,
): { masters: number; owner: string | null } {
  const masters = new Set<string>();
  let owner: string | null = null;
  for (const [first, last, [host, port, id]] of ranges) {
    const address = formatAddress({ host, port: Number(port) });
    masters.add(id ?? address);
    if (slot >= first && slot <= last) owner = address;
  }
  return { masters: masters.size, owner };
}

export async function readTopologyStatus(
  redis: RedisClient,
  target: { redisUrl: string; redisTopology: RedisTopology; eventStream: string },
): Promise<TopologyStatus> {
  const topology = target.redisTopology;
  switch (topology.kind) {
    case "standalone":
      return { kind: "standalone", url: redactUrl(target.redisUrl) };
    case "sentinel": {
      const server = redis as Redis;
      const socket = server.stream;
      const master =
        socket?.remoteAddress === undefined || socket.remotePort === undefined
          ? null
          : formatAddress({ host: socket.remoteAddress, port: socket.remotePort });
      const role = ((await server.role()) as unknown[])[0];
      return {
        kind: "sentinel",
        masterName: topology.masterName,
        master,
        role: typeof role === "string" ? role : null,
      };
    }
    case "cluster": {
      const slot = keySlot(target.eventStream);
      const ranges = (await (redis as Cluster).cluster("SLOTS")) as unknown as SlotRange[];
      const { masters, owner } = clusterSlotsSummary(ranges, slot);
      return { kind: "cluster", masters, streamSlot: slot, streamNode: owner };
    }
  }
}

/**
 * `standalone redis://127.0.0.1:6379`, `sentinel mymaster → 127.0.0.1:7001`, `cluster 3 masters, stream
 * slot 9414 on 127.0.0.1:7002`.
 */
export function formatTopologyStatus(status: TopologyStatus): string {
  switch (status.kind) {
    case "standalone":
      return `standalone ${status.url}`;
    case "sentinel": {
      const role =
        status.role === null || status.role === "master"
          ? ""
          : ` (answers as ${status.role === "slave" ? "a replica" : status.role}: a failover is under way)`;
      return `sentinel ${status.masterName} → ${status.master ?? "not connected"}${role}`;
    }
    case "cluster":
      return `cluster ${status.masters} ${status.masters === 1 ? "master" : "masters"}, stream slot ${status.streamSlot} on ${status.streamNode ?? "no node (slot not served)"}`;
  }
}

export function topologyStatusJson(status: TopologyStatus) {
  switch (status.kind) {
    case "standalone":
      return { kind: status.kind, url: status.url };
    case "sentinel":
      return {
        kind: status.kind,
        master_name: status.masterName,
        master: status.master,
        role: status.role,
      };
    case "cluster":
      return {
        kind: status.kind,
        masters: status.masters,
        stream_slot: status.streamSlot,
        stream_node: status.streamNode,
      };
  }
}
