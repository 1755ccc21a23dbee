import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ClusterTopology } from "./cluster-topology.ts";
import { nodeCommand } from "./topology-process.ts";

/** SET with WAIT 1 in one pipeline, so both go to the key's master on one connection. */
async function setWithWait(
  client: ReturnType<ClusterTopology["client"]>,
  key: string,
  value: string,
): Promise<number> {
  const replies = (await client.pipeline().set(key, value).wait(1, 2_000).exec()) ?? [];
  const [error, replicas] = replies[1] ?? [new Error("no reply to WAIT")];
  if (error) throw error;
  return Number(replicas);
}

describe("ClusterTopology", () => {
  let cluster: ClusterTopology;

  beforeAll(async () => {
    cluster = await ClusterTopology.start();
  }, 40_000);

  afterAll(() => cluster?.stop());

  test("three masters own every slot, each with a replica in sync", async () => {
    const view = await cluster.view();
    expect(view.filter((node) => node.role === "master" && node.hasSlots)).toHaveLength(3);
    const replicas = view.filter((node) => node.role === "slave");
    expect(replicas).toHaveLength(3);
    expect(new Set(replicas.map((node) => node.masterPort)).size).toBe(3);
    expect(cluster.env().REDIS_CLUSTER_NODES?.split(",")).toHaveLength(6);
  });

  test("CLUSTER FAILOVER on the replica: it owns the slot and has the write", async () => {
    const client = cluster.client();
    expect(await setWithWait(client, "manual-key", "kept")).toBe(1);
    const fault = await cluster.manualFailover("manual-key");
    const promoted = await cluster.waitForNewMasterOf("manual-key", fault.oldMaster);
    const seconds = (performance.now() - fault.at) / 1000;
    console.log(`cluster self-test: CLUSTER FAILOVER → new owner in ${seconds.toFixed(1)} s`);
    expect(await nodeCommand(promoted, ["GET", "manual-key"])).toBe("kept");
    // The old master is now its replica; the client follows the MOVED.
    expect(await cluster.replicaOf(promoted)).toBe(fault.oldMaster);
    expect(await client.get("manual-key")).toBe("kept");
  }, 30_000);

  test("kill -9 of a key's master: its replica takes over within seconds", async () => {
    const client = cluster.client();
    expect(await setWithWait(client, "killed-key", "kept")).toBe(1);
    const fault = await cluster.killMasterOf("killed-key");
    const promoted = await cluster.waitForNewMasterOf("killed-key", fault.oldMaster);
    const seconds = (performance.now() - fault.at) / 1000;
    console.log(`cluster self-test: kill -9 → new owner in ${seconds.toFixed(1)} s`);
    expect(seconds).toBeLessThan(15);
    expect(cluster.liveNodes).toHaveLength(5);
    expect(await nodeCommand(promoted, ["GET", "killed-key"])).toBe("kept");
    expect(await client.get("killed-key")).toBe("kept");
    await client.set("after-kill", "written");
  }, 30_000);
});
