/**
 * The worker on a Redis Cluster follows a failover of the master that owns its stream's slot,
 * under a steady load, and keeps every payment: a real cluster of three masters and three
 * replicas; a manual failover (CLUSTER FAILOVER on the replica), then the master killed with
 * kill -9. Each run ends with exact counts and prints the time the worker took to resume.
 */
import { afterAll, beforeAll, describe, test } from "bun:test";
import { ensureBinaryBuilt } from "../support/binary.ts";
import { ClusterTopology } from "../support/cluster-topology.ts";
import { runFailoverScenario } from "../support/failover-run.ts";
import { killWorkerProcesses } from "../support/worker-process.ts";

describe("cluster failover under load (dist/coursepay serve)", () => {
  let cluster: ClusterTopology;

  beforeAll(async () => {
    ensureBinaryBuilt();
    cluster = await ClusterTopology.start();
  }, 60_000);

  afterAll(() => {
    killWorkerProcesses();
    cluster?.stop();
  });

  test("CLUSTER FAILOVER on the replica: the worker follows the slot to it and applies every payment once", async () => {
    await runFailoverScenario({
      label: "cluster, CLUSTER FAILOVER on the replica",
      topology: cluster,
      kind: "cluster",
      fault: (run) => cluster.manualFailover(run.stream),
      promoted: (run, fault) => cluster.waitForNewMasterOf(run.stream, fault.oldMaster),
    });
  }, 60_000);

  test("kill -9 of the stream's master: the worker follows the slot to its replica and applies every payment once", async () => {
    await runFailoverScenario({
      label: "cluster, kill -9 of the stream's master",
      topology: cluster,
      kind: "cluster",
      fault: (run) => cluster.killMasterOf(run.stream),
      promoted: (run, fault) => cluster.waitForNewMasterOf(run.stream, fault.oldMaster),
    });
  }, 60_000);
});
