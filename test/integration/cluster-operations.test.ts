/**
 * On a real Redis Cluster, through the compiled binary: the reclaimer takes over entries a dead
 * consumer left, the heartbeat keeps a stuck batch from looking abandoned, bad events become
 * dead letters in `{<stream>}.dlq` (the stream's slot), and `dlq list/show/replay/purge` and
 * `status --json` work on them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ensureBinaryBuilt } from "../support/binary.ts";
import { ClusterTopology } from "../support/cluster-topology.ts";
import { FailoverRun } from "../support/failover-run.ts";
import { LOOPBACK, nodeCommand } from "../support/topology-process.ts";
import { killWorkerProcesses, runBinary } from "../support/worker-process.ts";
import { startWriteLocker } from "../support/write-lock.ts";

const CLAIM_IDLE_MS = 1_500;

describe("a cluster's stream, through dist/coursepay", () => {
  let cluster: ClusterTopology;

  beforeAll(async () => {
    ensureBinaryBuilt();
    cluster = await ClusterTopology.start();
  }, 60_000);

  afterAll(() => {
    killWorkerProcesses();
    cluster?.stop();
  });

  test("reclaim, heartbeat, dead letters in {stream}.dlq, dlq list/show/replay/purge and status", async () => {
    const run = new FailoverRun(cluster, "cluster");
    const { redis, stream, group } = run;
    expect(run.dlq).toBe(`{${stream}}.dlq`);
    try {
      // A consumer that read ten entries and died: only XAUTOCLAIM can bring them back.
      await redis.xgroup("CREATE", stream, group, "0", "MKSTREAM");
      const abandoned = await run.load.burst(10);
      await redis.xreadgroup("GROUP", group, "ghost", "COUNT", 10, "STREAMS", stream, ">");
      const locker = await startWriteLocker(run.databasePath);
      await run.startWorker({
        CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
        DATABASE_BUSY_TIMEOUT_MS: "300",
      });
      const fresh = await run.load.burst(10);
      for (let i = 0; i < 3; i++) await run.load.publishBad();
      await run.waitFor(
        "the abandoned entries reclaimed, the rest applied, three dead letters",
        async () =>
          run.processedOf([...abandoned, ...fresh]) === 20 &&
          (await run.deadLetters()).length === 3 &&
          (await run.pendingIds()).size === 0,
        { timeoutMs: 15_000 },
      );

      // Heartbeat: a batch that cannot commit stays this worker's, its idle time kept low.
      await locker.lock();
      const held = await run.load.burst(5);
      let maxIdle = 0;
      try {
        // The batch in hand (the rest of the five wait unread while it cannot commit).
        await run.waitFor("the held batch to be pending", async () => (await idle()).length > 0);
        const until = performance.now() + 2 * CLAIM_IDLE_MS;
        while (performance.now() < until) {
          const entries = await idle();
          expect(entries.filter((e) => e.consumer !== "fault-worker")).toEqual([]);
          maxIdle = Math.max(maxIdle, ...entries.map((e) => e.idleMs));
          await Bun.sleep(100);
        }
      } finally {
        await locker.release();
      }
      console.log(`cluster heartbeat: held batch's idle time at most ${maxIdle} ms`);
      expect(maxIdle).toBeLessThan(CLAIM_IDLE_MS);
      await run.waitFor("the held batch applied", () => run.processedOf(held) === 5);

      const env = run.env();
      const listed = await runBinary(["dlq", "list", "--json"], env);
      expect(listed).toMatchObject({ code: 0, stderr: "" });
      const letters = JSON.parse(listed.stdout) as { id: string; original_id: string }[];
      expect(new Set(letters.map((l) => l.original_id))).toEqual(new Set(run.load.badIds));
      const [first] = letters as [{ id: string; original_id: string }];

      const shown = await runBinary(["dlq", "show", first.id, "--json"], env);
      expect(shown.code).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({ id: first.id, reason: "invalid_json" });

      // Replayed, the bad event is read again and dead-lettered again: still three letters.
      const replayed = await runBinary(["dlq", "replay", first.id], env);
      expect(replayed).toMatchObject({ code: 0, stderr: "" });
      expect(replayed.stdout).toContain(`Replayed 1 dead letter to ${stream}.`);
      const againId = /as (\d+-\d+)/.exec(replayed.stdout)?.[1];
      await run.waitFor("the replayed event dead-lettered again", async () => {
        const originals = (await run.deadLetters()).map((l) => l.original_id);
        return originals.length === 3 && originals.includes(againId ?? "?");
      });

      const status = await runBinary(["status", "--json"], env);
      expect(status).toMatchObject({ code: 0, stderr: "" });
      const report = JSON.parse(status.stdout);
      const slot = Number(
        await nodeCommand(cluster.liveNodes[0] as number, ["CLUSTER", "KEYSLOT", stream]),
      );
      expect(report.redis_topology).toEqual({
        kind: "cluster",
        masters: 3,
        stream_slot: slot,
        stream_node: `${LOOPBACK}:${await cluster.masterOf(stream)}`,
      });
      expect(report.stream).toMatchObject({
        name: stream,
        dead_letter_stream: `{${stream}}.dlq`,
        dead_letters: 3,
      });
      const ours = report.groups.find((g: { name: string }) => g.name === group);
      expect(ours).toMatchObject({ pending: 0 });

      const purged = await runBinary(["dlq", "purge", "--all", "--yes"], env);
      expect(purged).toEqual({
        code: 0,
        stdout: `Removed 3 dead letters from {${stream}}.dlq.\n`,
        stderr: "",
      });
      expect(await redis.xlen(run.dlq)).toBe(0);
      expect(run.count("SELECT count(*) FROM course_enrollments")).toBe(25);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${run.tail(30)}`, { cause: error });
    } finally {
      await run.close();
    }

    async function idle(): Promise<{ consumer: string; idleMs: number }[]> {
      const rows = (await redis.xpending(stream, group, "-", "+", 100)) as [
        string,
        string,
        number,
        number,
      ][];
      return rows.map(([, consumer, idleMs]) => ({ consumer, idleMs: Number(idleMs) }));
    }
  }, 60_000);
});
