import { describe, expect, test } from "bun:test";
import {
  clusterSlotsSummary,
  formatTopologyStatus,
  topologyStatusJson,
} from "../../src/observe/redis-topology-status.ts";

describe("the topology status names the server in use", () => {
  test("CLUSTER SLOTS: the masters and the owner of a slot", () => {
    const ranges = [
      [0, 5460, ["127.0.0.1", 7001, "a"], ["127.0.0.1", 7004, "d"]],
      [5461, 10922, ["127.0.0.1", 7002, "b"], ["127.0.0.1", 7005, "e"]],
      [10923, 16383, ["127.0.0.1", 7003, "c"]],
      [9000, 9000, ["127.0.0.1", 7002, "b"]], // one master may serve several ranges
    ] as Parameters<typeof clusterSlotsSummary>[0];
    expect(clusterSlotsSummary(ranges, 9414)).toEqual({ masters: 3, owner: "127.0.0.1:7002" });
    expect(clusterSlotsSummary(ranges.slice(0, 1), 9414)).toEqual({ masters: 1, owner: null });
  });

  test("in words, as status prints it", () => {
    expect(formatTopologyStatus({ kind: "standalone", url: "redis://:***@h:6379" })).toBe(
      "standalone redis://:***@h:6379",
    );
    expect(
      formatTopologyStatus({
        kind: "sentinel",
        masterName: "mymaster",
        master: "127.0.0.1:7001",
        role: "master",
      }),
    ).toBe("sentinel mymaster → 127.0.0.1:7001");
    expect(
      formatTopologyStatus({ kind: "sentinel", masterName: "m", master: "h:1", role: "slave" }),
    ).toBe("sentinel m → h:1 (answers as a replica: a failover is under way)");
    expect(
      formatTopologyStatus({
        kind: "cluster",
        masters: 3,
        streamSlot: 9414,
        streamNode: "127.0.0.1:7002",
      }),
    ).toBe("cluster 3 masters, stream slot 9414 on 127.0.0.1:7002");
  });

  test("in JSON, snake_case", () => {
    expect(
      topologyStatusJson({ kind: "cluster", masters: 3, streamSlot: 1, streamNode: null }),
    ).toEqual({ kind: "cluster", masters: 3, stream_slot: 1, stream_node: null });
    expect(
      topologyStatusJson({ kind: "sentinel", masterName: "m", master: "h:1", role: "master" }),
    ).toEqual({ kind: "sentinel", master_name: "m", master: "h:1", role: "master" });
  });
});
