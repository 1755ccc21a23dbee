import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { findEnrollments } from "../../src/course/enrollment-queries.ts";
import { chargeback, courseDispatcher, payment, refund } from "../support/course-events.ts";
import { runCoursepay } from "../support/run-coursepay.ts";

let store: Awaited<ReturnType<typeof courseDispatcher>>;

/** test_user: course_001 paid twice, one refunded (active); course_002 paid, charged back. */
beforeAll(async () => {
  store = await courseDispatcher();
  await store.oneByOne([
    payment({ trace_id: "evt_p1", course_id: "course_001", language: "de" }),
    payment({ trace_id: "evt_p2", course_id: "course_001" }),
    refund({ trace_id: "evt_r1", payment_trace_id: "evt_p1", course_id: "course_001" }),
    chargeback({ trace_id: "evt_cb", payment_trace_id: "evt_p3", course_id: "course_002" }),
    payment({ trace_id: "evt_p3", course_id: "course_002" }),
  ]);
});
afterAll(() => store.database.close());

describe("coursepay enrollments with refunds and chargebacks", () => {
  test("findEnrollments gives each enrollment's status and its payments with their reversals", async () => {
    const page = await findEnrollments(store.database.db, {
      tenantId: "test_tenant",
      userId: "test_user",
      limit: 10,
    });
    const [first, second] = page.enrollments;
    expect(first).toMatchObject({
      courseId: "course_001",
      status: "active",
      traceId: "evt_p2",
      revokedAt: null,
      payments: [
        { traceId: "evt_p1", state: "refunded", reversalTraceId: "evt_r1" },
        { traceId: "evt_p2", state: "succeeded", reversalTraceId: null },
      ],
    });
    expect(second).toMatchObject({
      courseId: "course_002",
      status: "revoked",
      traceId: "evt_p3",
      revokedByTraceId: "evt_cb",
      payments: [{ traceId: "evt_p3", state: "charged_back", reversalTraceId: "evt_cb" }],
    });
  });

  test("the table shows the status, then the payments and what reversed them", async () => {
    const run = await runCoursepay(["enrollments", "--tenant", "test_tenant"], {
      DATABASE_URL: store.url,
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.split("\n");
    expect(lines[0]).toMatch(
      /^USER\s+COURSE\s+STATUS\s+LANGUAGE\s+GRANTED_AT\s+TRACE_ID\s+PROCESSED$/,
    );
    expect(lines.slice(1, 3).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ["test_user", "course_001", "active"],
      ["test_user", "course_002", "revoked"],
    ]);
    const at = lines.indexOf("Payments of these courses:");
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(
      /^USER\s+COURSE\s+PAYMENT\s+STATE\s+PAID_AT\s+REVERSED_BY\s+REVERSED_AT$/,
    );
    expect(
      lines.slice(at + 2, at + 5).map((l) => l.split(/\s+/).filter((c) => !c.includes("T"))),
    ).toEqual([
      ["test_user", "course_001", "evt_p1", "refunded", "evt_r1"],
      ["test_user", "course_001", "evt_p2", "succeeded", "-", "-"],
      ["test_user", "course_002", "evt_p3", "charged_back", "evt_cb"],
    ]);
    expect(run.stdout).toContain("\n2 enrollments for tenant test_tenant.\n");
  });

  test("--json carries revoked_at, revoked_by_trace_id and the payments", async () => {
    const run = await runCoursepay(
      ["enrollments", "--tenant", "test_tenant", "--course", "course_002", "--json"],
      { DATABASE_URL: store.url },
    );
    expect(run.code).toBe(0);
    const [enrollment] = JSON.parse(run.stdout);
    expect(enrollment).toMatchObject({
      status: "revoked",
      trace_id: "evt_p3",
      revoked_by_trace_id: "evt_cb",
      revoked_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      payments: [
        {
          trace_id: "evt_p3",
          state: "charged_back",
          paid_at: expect.stringMatching(/^\d{4}-/),
          reversal_trace_id: "evt_cb",
          reversed_at: expect.stringMatching(/^\d{4}-/),
        },
      ],
    });
  });
});
