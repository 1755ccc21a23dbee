/**
 * docs/deployment.md "Backup and restore", as an operator does it: `sqlite3 DB ".backup FILE"`
 * while a real `coursepay serve` grants payments under load, then a restore of that backup and
 * a replay of the stream since the backup (XGROUP SETID). Idempotency makes the replay harmless:
 * the restored database ends with exactly the rows the lost one had, every payment once.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { tempDir, uniqueName } from "../support/fixtures.ts";
import {
  killSpawnedWorkers,
  paymentEnvelope,
  publishPayment,
  spawnWorker,
  testConfig,
  testRedis,
  waitFor,
} from "../support/worker-harness.ts";

const redis = testRedis();
afterAll(() => {
  killSpawnedWorkers();
  redis.disconnect();
});

/** Runs the sqlite3 command-line shell on `db`; its output, or a throw with its error. */
function sqlite3(db: string, ...args: string[]): string {
  const run = Bun.spawnSync(["sqlite3", db, ...args], { stdout: "pipe", stderr: "pipe" });
  if (!run.success) throw new Error(`sqlite3 ${args.join(" ")}: ${run.stderr.toString()}`);
  return run.stdout.toString().trim();
}

/** Every row that says who paid for what, in one comparable text (times left out). */
function ledger(db: string): string {
  return [
    sqlite3(
      db,
      "SELECT tenant_id, user_id, course_id, status FROM course_enrollments ORDER BY 1, 2, 3",
    ),
    sqlite3(db, "SELECT trace_id, tenant_id, user_id, course_id FROM course_payments ORDER BY 1"),
    sqlite3(db, "SELECT subscriber_name, trace_id, outcome FROM processed_events ORDER BY 1, 2"),
  ].join("\n--\n");
}

function count(db: string, table: string): number {
  return Number(sqlite3(db, `SELECT count(*) FROM ${table}`));
}

async function groupState(stream: string, group: string) {
  const groups = (await redis.xinfo("GROUPS", stream)) as unknown[][];
  const fields = groups.find((g) => g[1] === group) ?? [];
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) record[String(fields[i])] = fields[i + 1];
  return { pending: Number(record.pending), lastDelivered: String(record["last-delivered-id"]) };
}

describe("backup while the worker runs, restore, replay the stream since the backup", () => {
  test("the restored database ends with exactly the payments of the lost one", async () => {
    const config = testConfig();
    const db = config.databaseFilePath ?? "";
    const stream = config.eventStream;
    const group = config.consumerGroup;
    const backup = join(tempDir("backup"), "coursepay-backup.db");
    const PAYMENTS = 3000;
    const USERS = 400;

    let worker = spawnWorker(config);
    const lastEntry = async () => (await redis.xrevrange(stream, "+", "-", "COUNT", 1))[0]?.[0];
    const drained = async () => {
      if (worker.child.exitCode !== null) {
        throw new Error(`the worker exited ${worker.child.exitCode}: ${worker.output()}`);
      }
      const [state, last] = await Promise.all([groupState(stream, group), lastEntry()]);
      return state.pending === 0 && state.lastDelivered === last;
    };

    // The load: 3000 payments in 60 rounds; every 10th one published twice (a redelivery).
    const traceIds = Array.from({ length: PAYMENTS }, () => uniqueName("evt"));
    let published = 0;
    const load = (async () => {
      for (let round = 0; round < 60; round++) {
        const pipeline = redis.pipeline();
        for (let i = round * 50; i < (round + 1) * 50; i++) {
          const payment = {
            trace_id: traceIds[i] ?? "",
            user_id: `u${i % USERS}`,
            course_id: `course_${String(i % 9).padStart(3, "0")}`,
          };
          const fields = encodeDataForm(paymentEnvelope(payment));
          pipeline.xadd(stream, "*", ...fields);
          if (i % 10 === 0) pipeline.xadd(stream, "*", ...fields);
        }
        await pipeline.exec();
        published = (round + 1) * 50;
        await Bun.sleep(40);
      }
    })();

    // Mid-load, while the worker commits: the backup, and the time to replay from.
    await waitFor("the worker to grant some payments", () => {
      try {
        return count(db, "course_payments") >= 600;
      } catch {
        return false; // not migrated yet
      }
    });
    const replayFrom = Date.now() - 1_000; // a margin for clocks and batches in hand
    sqlite3(db, `.backup '${backup}'`);
    const publishedAtBackup = published;
    await load;
    await waitFor("the worker to drain the stream", drained, 30_000);

    // The backup is consistent and partial: taken under load, not after it.
    expect(sqlite3(backup, "PRAGMA integrity_check")).toBe("ok");
    const inBackup = count(backup, "course_payments");
    expect(inBackup).toBeGreaterThanOrEqual(600);
    expect(inBackup).toBeLessThan(PAYMENTS);
    expect(publishedAtBackup).toBeLessThan(PAYMENTS);

    const before = ledger(db);
    expect(count(db, "course_payments")).toBe(PAYMENTS);
    expect(count(db, "processed_events")).toBe(PAYMENTS);

    // The disaster: the database is lost. The restore: stop, put the backup in place (no -wal
    // or -shm of the lost file beside it), rewind the group to before the backup, start.
    worker.child.kill("SIGTERM");
    expect(await worker.child.exited).toBe(0);
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${db}${suffix}`, { force: true });
    copyFileSync(backup, db);
    expect(await redis.xgroup("SETID", stream, group, `${replayFrom}-0`)).toBe("OK");
    worker = spawnWorker(config);
    const replayStarted = Date.now();
    await waitFor("the restored worker to drain the stream", drained, 30_000);
    const replaySeconds = (Date.now() - replayStarted) / 1000;

    // Exactly the lost database's rows: no payment lost, none granted twice.
    expect(ledger(db)).toBe(before);
    expect(count(db, "course_payments")).toBe(PAYMENTS);
    expect(count(db, "processed_events")).toBe(PAYMENTS);
    expect(Number(sqlite3(db, "SELECT count(*) FROM course_enrollments"))).toBe(
      Number(
        sqlite3(
          db,
          "SELECT count(*) FROM (SELECT DISTINCT tenant_id, user_id, course_id FROM course_payments)",
        ),
      ),
    );
    expect(await redis.xlen(`${stream}.dlq`)).toBe(0);
    expect((await groupState(stream, group)).pending).toBe(0);
    expect(replaySeconds).toBeLessThan(20);
  }, 90_000);

  test("VACUUM INTO makes a consistent copy of a database in use too", async () => {
    const config = testConfig();
    const db = config.databaseFilePath ?? "";
    const worker = spawnWorker(config);
    for (let i = 0; i < 50; i++) {
      await publishPayment(redis, config.eventStream, { trace_id: uniqueName("evt") });
    }
    await waitFor("the worker to grant 50 payments", () => {
      try {
        return count(db, "course_payments") === 50;
      } catch {
        return false;
      }
    });
    const copy = join(tempDir("vacuum"), "copy.db");
    sqlite3(db, `VACUUM INTO '${copy}'`);
    expect(sqlite3(copy, "PRAGMA integrity_check")).toBe("ok");
    expect(count(copy, "course_payments")).toBe(50);
    worker.child.kill("SIGTERM");
    expect(await worker.child.exited).toBe(0);
  }, 30_000);
});
