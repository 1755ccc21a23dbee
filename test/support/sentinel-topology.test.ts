import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SentinelTopology } from "./sentinel-topology.ts";
import { nodeCommand, nodeInfo, waitUntil } from "./topology-process.ts";

describe("SentinelTopology", () => {
  let topology: SentinelTopology;

  beforeAll(async () => {
    topology = await SentinelTopology.start();
  }, 30_000);

  afterAll(() => topology?.stop());

  test("starts a master with a replica in sync, watched by three agreeing sentinels", async () => {
    const master = await topology.currentMaster();
    expect((await nodeInfo(master, "replication")).role).toBe("master");
    expect(await topology.replicasOf(master)).toHaveLength(1);
    expect(topology.env().REDIS_SENTINELS?.split(",")).toHaveLength(3);
  });

  test("kill -9 of the master: the sentinels promote the replica, which has the write", async () => {
    const client = topology.client();
    await client.set("before-kill", "kept");
    expect(await client.wait(1, 2_000)).toBe(1);
    const fault = await topology.killMaster();
    const promoted = await topology.waitForNewMaster(fault.oldMaster);
    const seconds = (performance.now() - fault.at) / 1000;
    console.log(`sentinel self-test: kill -9 → new master in ${seconds.toFixed(1)} s`);
    expect(seconds).toBeLessThan(15);
    expect(await client.get("before-kill")).toBe("kept");
    expect(topology.liveNodes).toEqual([promoted]);
    // Back as a replica of the new master, the killed node makes the next failover possible.
    await topology.restartKilledAsReplica(promoted);
    expect(await topology.replicasOf(promoted)).toEqual([fault.oldMaster]);
  }, 30_000);

  test("SENTINEL FAILOVER promotes the replica; the client follows to it", async () => {
    const client = topology.client();
    await client.set("before-failover", "kept");
    expect(await client.wait(1, 2_000)).toBe(1);
    const fault = await topology.sentinelFailover();
    const promoted = await topology.waitForNewMaster(fault.oldMaster);
    expect(promoted).not.toBe(fault.oldMaster);
    const seconds = (performance.now() - fault.at) / 1000;
    console.log(`sentinel self-test: SENTINEL FAILOVER → new master in ${seconds.toFixed(1)} s`);
    await waitUntil(
      "the client to write on the new master",
      async () => {
        await client.set("after-failover", "written");
        return (await nodeCommand(promoted, ["GET", "after-failover"])) === "written";
      },
      10_000,
    );
    expect(await nodeCommand(promoted, ["GET", "before-failover"])).toBe("kept");
  }, 30_000);
});
