import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Database, openDatabase } from "../../src/db/database.ts";
import { migrate } from "../../src/db/migrate.ts";
import { readMigrations } from "../../src/db/read-migrations.ts";
import { Dispatcher } from "../../src/dispatch/dispatcher.ts";
import { silentLogger } from "../../src/observe/logger.ts";
import { buildRegistry } from "../../src/worker.ts";
import { payment, refund } from "../support/course-events.ts";
import { tempDatabaseUrl } from "../support/fixtures.ts";

const root = resolve(import.meta.dir, "..", "..");
const GRANTED = Date.parse("2026-11-26T08:00:00.000Z");
const opened: Database[] = [];
afterAll(() => {
  for (const database of opened) database.close();
});

/**
 * A database as the previous release left it: its only migration (0000_init, recorded in
 * __drizzle_migrations the way its `coursepay migrate` recorded it) and rows it wrote.
 */
async function previousReleaseDatabase(): Promise<Database> {
  const file = tempDatabaseUrl();
  const database = await openDatabase({ url: file.url, filePath: file.path });
  opened.push(database);
  const [init] = readMigrations();
  if (init?.tag !== "0000_init") throw new Error("expected 0000_init first");
  const { client } = database;
  await client.execute(
    "CREATE TABLE IF NOT EXISTS __drizzle_migrations (id INTEGER PRIMARY KEY, hash text NOT NULL, created_at numeric)",
  );
  for (const statement of init.statements) await client.execute(statement);
  await client.execute({
    sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)",
    args: [init.hash, init.createdAt],
  });
  const rows: [string, string, string, string | null, string, number][] = [
    ["test_tenant", "test_user", "course_001", "de", "evt_old_1", GRANTED],
    ["test_tenant", "test_user", "course_002", null, "evt_old_2", GRANTED + 1000],
    ["tenant_b", "u9", "course_001", "pt-BR", "evt_old_3", GRANTED + 2000],
  ];
  for (const [tenant, user, course, language, traceId, grantedAt] of rows) {
    // The previous release's own statements (src/course/monetization-service.ts, the guard).
    await client.execute({
      sql: `INSERT INTO course_enrollments (tenant_id, user_id, actor_id, course_id, language, status,
              trace_id, granted_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?) ON CONFLICT DO NOTHING`,
      args: [tenant, user, `${tenant}:${user}`, course, language, traceId, grantedAt],
    });
    await client.execute({
      sql: `INSERT INTO processed_events (subscriber_name, trace_id, event_type, stream_entry_id,
              payload_hash, outcome, processed_at) VALUES ('course_payment_subscriber', ?,
              'paycore.payment_succeeded', ?, ?, 'applied', ?)`,
      args: [traceId, `${grantedAt}-0`, hashOf(tenant, user, course, language, traceId), grantedAt],
    });
  }
  return database;
}

/** The payload hash the previous release stored for such a payment. */
function hashOf(
  tenant: string,
  user: string,
  course: string,
  language: string | null,
  traceId: string,
) {
  const entry = payment({
    trace_id: traceId,
    tenant_id: tenant,
    user_id: user,
    course_id: course,
    ...(language === null ? {} : { language }),
  });
  if (!entry.decoded.ok) throw new Error("unreachable");
  return entry.decoded.payloadHash;
}

const all = async (database: Database, sql: string): Promise<Record<string, unknown>[]> =>
  (await database.client.execute(sql)).rows.map((row) => ({ ...row }));

describe("upgrading a database of the previous release (migration 0000 and its rows)", () => {
  test("the 0000 it carries is the one this release ships, unchanged", () => {
    const shipped = readFileSync(join(root, "migrations", "0000_init.sql"), "utf8");
    expect(readMigrations()[0]?.statements.join("")).toBe(
      shipped
        .split("--> statement-breakpoint")
        .map((s) => s.trim())
        .filter(Boolean)
        .join(""),
    );
  });

  test("migrates in place: every enrollment active, each with a succeeded payment from its trace_id", async () => {
    const database = await previousReleaseDatabase();
    const report = await migrate(database.client);
    expect(report).toEqual({
      applied: ["0001_course_payments", "0002_backfill_course_payments"],
      alreadyApplied: 1,
    });
    expect(
      await all(
        database,
        "SELECT trace_id, status, granted_at, revoked_at, revoked_by_trace_id FROM course_enrollments ORDER BY id",
      ),
    ).toEqual([
      {
        trace_id: "evt_old_1",
        status: "active",
        granted_at: GRANTED,
        revoked_at: null,
        revoked_by_trace_id: null,
      },
      {
        trace_id: "evt_old_2",
        status: "active",
        granted_at: GRANTED + 1000,
        revoked_at: null,
        revoked_by_trace_id: null,
      },
      {
        trace_id: "evt_old_3",
        status: "active",
        granted_at: GRANTED + 2000,
        revoked_at: null,
        revoked_by_trace_id: null,
      },
    ]);
    expect(await all(database, "SELECT * FROM course_payments ORDER BY trace_id")).toEqual([
      {
        trace_id: "evt_old_1",
        tenant_id: "test_tenant",
        user_id: "test_user",
        course_id: "course_001",
        language: "de",
        state: "succeeded",
        paid_at: GRANTED,
        reversal_trace_id: null,
        reversed_at: null,
      },
      {
        trace_id: "evt_old_2",
        tenant_id: "test_tenant",
        user_id: "test_user",
        course_id: "course_002",
        language: null,
        state: "succeeded",
        paid_at: GRANTED + 1000,
        reversal_trace_id: null,
        reversed_at: null,
      },
      {
        trace_id: "evt_old_3",
        tenant_id: "tenant_b",
        user_id: "u9",
        course_id: "course_001",
        language: "pt-BR",
        state: "succeeded",
        paid_at: GRANTED + 2000,
        reversal_trace_id: null,
        reversed_at: null,
      },
    ]);
    // A second run applies nothing.
    expect(await migrate(database.client)).toEqual({ applied: [], alreadyApplied: 3 });
  });

  test("the seed's SQL queries still work verbatim", async () => {
    const database = await previousReleaseDatabase();
    await migrate(database.client);
    const enrollments = await all(
      database,
      "SELECT * FROM course_enrollments WHERE actor_id LIKE 'test_tenant%';",
    );
    expect(enrollments.map((row) => row.trace_id)).toEqual(["evt_old_1", "evt_old_2"]);
    expect(enrollments[0]).toMatchObject({
      tenant_id: "test_tenant",
      user_id: "test_user",
      actor_id: "test_tenant:test_user",
      course_id: "course_001",
      status: "active",
    });
    const processed = await all(
      database,
      "SELECT * FROM processed_events WHERE subscriber_name = 'course_payment_subscriber';",
    );
    expect(processed).toHaveLength(3);
  });

  test("after the upgrade, a refund of an old payment revokes its course and a replay of it is a duplicate", async () => {
    const database = await previousReleaseDatabase();
    await migrate(database.client);
    const dispatcher = new Dispatcher(buildRegistry(silentLogger()), database, silentLogger());
    const [refunded] = await dispatcher.dispatch([
      refund({ trace_id: "evt_refund_1", payment_trace_id: "evt_old_1" }),
    ]);
    expect(refunded?.outcomes.map((o) => o.outcome)).toEqual(["applied"]);
    const [replay, second] = await dispatcher.dispatch([
      payment({ trace_id: "evt_old_1", course_id: "course_001", language: "de" }),
      payment({ trace_id: "evt_new_1", course_id: "course_002" }),
    ]);
    expect(replay?.outcomes.map((o) => o.outcome)).toEqual(["duplicate"]);
    expect(second?.outcomes.map((o) => o.outcome)).toEqual(["applied"]);
    expect(
      await all(
        database,
        "SELECT course_id, status, trace_id, revoked_by_trace_id FROM course_enrollments WHERE tenant_id = 'test_tenant' ORDER BY course_id",
      ),
    ).toEqual([
      {
        course_id: "course_001",
        status: "revoked",
        trace_id: "evt_old_1",
        revoked_by_trace_id: "evt_refund_1",
      },
      // A second payment of a course it has: the old payment still grants it.
      {
        course_id: "course_002",
        status: "active",
        trace_id: "evt_old_2",
        revoked_by_trace_id: null,
      },
    ]);
  });
});
