/**
 * The worker behind Sentinel follows a failover under a steady load and keeps every payment:
 * a real master, replica and three sentinels; the master killed with kill -9, then (the killed
 * node back as a replica) a SENTINEL FAILOVER. Each run ends with exact counts and prints the
 * time the worker took to resume.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ensureBinaryBuilt } from "../support/binary.ts";
import { runFailoverScenario } from "../support/failover-run.ts";
import { SentinelTopology } from "../support/sentinel-topology.ts";
import { killWorkerProcesses } from "../support/worker-process.ts";

describe("Sentinel failover under load (dist/coursepay serve)", () => {
  let topology: SentinelTopology;

  beforeAll(async () => {
    ensureBinaryBuilt();
    topology = await SentinelTopology.start();
  }, 60_000);

  afterAll(() => {
    killWorkerProcesses();
    topology?.stop();
  });

  test("kill -9 of the master: the worker finds the promoted replica and applies every payment once", async () => {
    const summary = await runFailoverScenario({
      label: "sentinel, kill -9 of the master",
      topology,
      kind: "sentinel",
      fault: () => topology.killMaster(),
      promoted: (_run, fault) => topology.waitForNewMaster(fault.oldMaster),
    });
    expect(summary.confirmed).toBeGreaterThan(0);
  }, 60_000);

  test("SENTINEL FAILOVER: the worker leaves the demoted master and applies every payment once", async () => {
    const master = await topology.currentMaster();
    await topology.restartKilledAsReplica(master);
    await runFailoverScenario({
      label: "sentinel, SENTINEL FAILOVER",
      topology,
      kind: "sentinel",
      fault: () => topology.sentinelFailover(),
      promoted: (_run, fault) => topology.waitForNewMaster(fault.oldMaster),
    });
  }, 60_000);
});
