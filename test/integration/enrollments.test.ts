import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { findEnrollments } from "../../src/course/enrollment-queries.ts";
import { type Database, openDatabase } from "../../src/db/database.ts";
import { migrate } from "../../src/db/migrate.ts";
import { tempDatabaseUrl } from "../support/fixtures.ts";
import { runCoursepay } from "../support/run-coursepay.ts";

const GRANTED = Date.parse("2026-11-26T08:00:00.000Z");
const database = tempDatabaseUrl();
let store: Database;

/** Three enrollments of t1/u1 (one written by hand, without a processed_events row), others. */
beforeAll(async () => {
  store = await openDatabase({ url: database.url, filePath: database.path });
  await migrate(store.client);
  const enrollments: [string, string, string, string | null, string, number][] = [
    ["t1", "u1", "course_001", "de", "evt_a", GRANTED],
    ["t1", "u1", "course_002", null, "evt_b", GRANTED + 60_000],
    ["t1", "u1", "course_003", "pt-BR", "evt_manual", GRANTED + 120_000],
    ["t1", "u2", "course_001", "en", "evt_c", GRANTED + 180_000],
    ["t2", "u1", "course_001", "de", "evt_d", GRANTED + 240_000],
  ];
  for (const [tenant, user, course, language, traceId, grantedAt] of enrollments) {
    await store.client.execute({
      sql: `INSERT INTO course_enrollments (tenant_id, user_id, actor_id, course_id, language,
              status, trace_id, granted_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?)`,
      args: [tenant, user, `${tenant}:${user}`, course, language, traceId, grantedAt],
    });
  }
  for (const [traceId, entryId] of [
    ["evt_a", "1-0"],
    ["evt_b", "2-0"],
    ["evt_c", "3-0"],
    ["evt_d", "4-0"],
  ]) {
    await store.client.execute({
      sql: `INSERT INTO processed_events VALUES ('course_payment_subscriber', ?,
              'paycore.payment_succeeded', ?, 'hash', 'applied', ?)`,
      args: [traceId as string, entryId as string, GRANTED + 5],
    });
  }
  // Another subscriber's record of evt_manual says nothing about the course grant.
  await store.client.execute(
    `INSERT INTO processed_events VALUES ('other_subscriber', 'evt_manual',
       'paycore.payment_succeeded', '9-0', 'hash', 'applied', 0)`,
  );
});

afterAll(() => store.close());

function enrollments(args: string[], env: Record<string, string> = {}) {
  return runCoursepay(["enrollments", ...args], { DATABASE_URL: database.url, ...env });
}

describe("findEnrollments", () => {
  test("the newest N of a learner, oldest first, with the total and each payment's record", async () => {
    const page = await findEnrollments(store.db, { tenantId: "t1", userId: "u1", limit: 2 });
    expect(page.total).toBe(3);
    expect(page.enrollments.map((e) => e.courseId)).toEqual(["course_002", "course_003"]);
    expect(page.enrollments[0]).toEqual({
      tenantId: "t1",
      userId: "u1",
      actorId: "t1:u1",
      courseId: "course_002",
      language: null,
      status: "active",
      traceId: "evt_b",
      grantedAt: GRANTED + 60_000,
      revokedAt: null,
      revokedByTraceId: null,
      payments: [],
      processing: { outcome: "applied", processedAt: GRANTED + 5, streamEntryId: "2-0" },
    });
    expect(page.enrollments[1]?.processing).toBeNull();
  });

  test("filters by course across the tenant's users, and never crosses tenants", async () => {
    const page = await findEnrollments(store.db, {
      tenantId: "t1",
      courseId: "course_001",
      limit: 100,
    });
    expect(page.enrollments.map((e) => `${e.tenantId}/${e.userId}`)).toEqual(["t1/u1", "t1/u2"]);
  });
});

describe("coursepay enrollments", () => {
  test("prints a table of the learner's courses, granting trace_ids and processing", async () => {
    const run = await enrollments(["--tenant", "t1", "--user", "u1"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        "USER  COURSE      STATUS  LANGUAGE  GRANTED_AT                TRACE_ID    PROCESSED",
        "u1    course_001  active  de        2026-11-26T08:00:00.000Z  evt_a       yes",
        "u1    course_002  active  -         2026-11-26T08:01:00.000Z  evt_b       yes",
        "u1    course_003  active  pt-BR     2026-11-26T08:02:00.000Z  evt_manual  no",
        "",
        "3 enrollments for tenant t1, user u1.",
        "",
      ].join("\n"),
    );
  });

  test("says when only the newest are shown", async () => {
    const run = await enrollments(["--tenant", "t1", "--limit", "1"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toEndWith(
      "\n4 enrollments for tenant t1, the newest 1 shown; --limit 4 shows them all.\n",
    );
  });

  test("--json prints every field, times in ISO 8601", async () => {
    const run = await enrollments([
      "--tenant",
      "t1",
      "--user",
      "u1",
      "--course",
      "course_001",
      "--json",
    ]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([
      {
        tenant_id: "t1",
        user_id: "u1",
        actor_id: "t1:u1",
        course_id: "course_001",
        status: "active",
        language: "de",
        granted_at: "2026-11-26T08:00:00.000Z",
        revoked_at: null,
        revoked_by_trace_id: null,
        trace_id: "evt_a",
        processed: true,
        processed_outcome: "applied",
        processed_at: "2026-11-26T08:00:00.005Z",
        stream_entry_id: "1-0",
        payments: [],
      },
    ]);
  });

  test("no match says so and exits 0; --json prints an empty array", async () => {
    const run = await enrollments(["--tenant", "t1", "--user", "nobody"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toStartWith(
      `No enrollments for tenant t1, user nobody in ${database.path}.\n`,
    );
    const json = await enrollments(["--tenant", "t9", "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  test("a missing database file is an error, not an empty answer, and is not created", async () => {
    const missing = tempDatabaseUrl().path;
    const run = await enrollments(["--tenant", "t1"], { DATABASE_URL: `file:${missing}` });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`coursepay: no database at ${missing} (DATABASE_URL)\n`);
    expect(await Bun.file(missing).exists()).toBe(false);
  });

  test("bad usage exits 2", async () => {
    expect((await enrollments([])).code).toBe(2);
    expect((await enrollments(["--tenant", "a b"])).code).toBe(2);
    expect((await enrollments(["--tenant", "t1", "--limit", "0"])).code).toBe(2);
    expect((await enrollments(["--tenant", "t1", "--bogus"])).code).toBe(2);
  });
});
