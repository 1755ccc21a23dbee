/**
 * The enrollments of a batch's (tenant, user, course) keys, recomputed from course_payments in
 * one statement: enrollment-rules.ts in SQL (a test runs both on random histories). The keys
 * travel as one JSON parameter, so the statement text is the same for every batch.
 */
import { sql } from "drizzle-orm";
import type { Db, Tx } from "../db/database.ts";
import type { CourseKey } from "./course-key.ts";
import type { EnrollmentRecord } from "./enrollment-rules.ts";

function keysJson(keys: Iterable<CourseKey>): string {
  const rows: string[][] = [];
  for (const key of keys) rows.push([key.tenantId, key.userId, key.courseId]);
  return JSON.stringify(rows);
}

/**
 * A key whose only change in the batch is new payments in good standing: its deciding payment
 * is known without reading (the smallest of their trace_ids, all paid now), because a key with
 * no enrollment has no payment on record, and a revoked one none in good standing.
 */
export interface NewlyPaidKey extends CourseKey {
  readonly traceId: string;
}

export interface RecomputeKeys {
  /** Keys whose deciding payment the statement looks up. */
  readonly derived: Iterable<CourseKey>;
  /** Their payment rows are already written in this transaction. */
  readonly newlyPaid: Iterable<NewlyPaidKey>;
}

const KEEP = sql.raw(`(course_enrollments.status = excluded.status
      AND (course_enrollments.status = 'revoked' OR EXISTS (
        SELECT 1 FROM course_payments AS g
        WHERE g.trace_id = course_enrollments.trace_id AND g.state = 'succeeded'
          AND g.tenant_id = course_enrollments.tenant_id AND g.user_id = course_enrollments.user_id
          AND g.course_id = course_enrollments.course_id)))`);

/**
 * Upserts the enrollment of each key from its payments, in one statement. The deciding
 * payment (the ORDER BY): arrived ones only, good standing first, the earliest paid, else the
 * latest reversed, then the smaller trace_id; newly paid keys bring theirs (the common case,
 * no lookup). On conflict the row is kept as it is when its status stays and, if active, its
 * payment is still in good standing (`keep`); otherwise the columns follow the rules. Each key
 * must be given once.
 */
export async function recomputeEnrollments(
  tx: Tx,
  keys: RecomputeKeys,
  now: number,
): Promise<void> {
  // Only the trace_ids travel: the columns come from the payment rows by primary key, which
  // costs less than extracting each column from a JSON array (~0.4 µs per column and row).
  const newlyPaid: string[] = [];
  for (const key of keys.newlyPaid) newlyPaid.push(key.traceId);
  const derived = keysJson(keys.derived);
  // A batch of new payments only (most of them) skips the lookup part: a shorter statement to
  // prepare. `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
  const lookups =
    derived === "[]"
      ? sql`WHERE true`
      : sql`UNION ALL
    SELECT k.value ->> 0, k.value ->> 1, (k.value ->> 0) || ':' || (k.value ->> 1), k.value ->> 2,
      p.language,
      CASE p.state WHEN 'succeeded' THEN 'active' ELSE 'revoked' END,
      p.trace_id, ${now},
      CASE WHEN p.state <> 'succeeded' THEN ${now} END,
      CASE WHEN p.state <> 'succeeded' THEN p.reversal_trace_id END
    FROM json_each(${derived}) AS k
    JOIN course_payments AS p ON p.trace_id = (
      SELECT c.trace_id FROM course_payments AS c
      WHERE c.tenant_id = k.value ->> 0 AND c.user_id = k.value ->> 1
        AND c.course_id = k.value ->> 2 AND c.paid_at IS NOT NULL
      ORDER BY c.state <> 'succeeded',
        CASE WHEN c.state = 'succeeded' THEN c.paid_at ELSE -c.reversed_at END, c.trace_id
      LIMIT 1)
    WHERE true`;
  await tx.run(sql`
    INSERT INTO course_enrollments (tenant_id, user_id, actor_id, course_id, language, status,
      trace_id, granted_at, revoked_at, revoked_by_trace_id)
    SELECT p.tenant_id, p.user_id, p.tenant_id || ':' || p.user_id, p.course_id, p.language,
      'active', p.trace_id, ${now}, NULL, NULL
    FROM json_each(${JSON.stringify(newlyPaid)}) AS n CROSS JOIN course_payments AS p
      ON p.trace_id = n.value
    ${lookups}
    ON CONFLICT (tenant_id, user_id, course_id) DO UPDATE SET
      language = excluded.language,
      status = excluded.status,
      trace_id = excluded.trace_id,
      granted_at = CASE WHEN excluded.status = 'active' AND course_enrollments.status <> 'active'
        THEN excluded.granted_at ELSE course_enrollments.granted_at END,
      revoked_at = CASE WHEN excluded.status = 'active' THEN NULL
        WHEN course_enrollments.status = 'active' THEN excluded.revoked_at
        ELSE course_enrollments.revoked_at END,
      revoked_by_trace_id = CASE WHEN excluded.status = 'active' THEN NULL
        WHEN course_enrollments.status = 'active' THEN excluded.revoked_by_trace_id
        ELSE course_enrollments.revoked_by_trace_id END
    WHERE NOT ${KEEP}`);
}

interface EnrollmentRow {
  tenant_id: string;
  user_id: string;
  course_id: string;
  language: string | null;
  status: string;
  trace_id: string;
  granted_at: number;
  revoked_at: number | null;
  revoked_by_trace_id: string | null;
}

/** The enrollments of these keys that exist (one read; for logging transitions and tests). */
export async function readEnrollments(
  db: Db | Tx,
  keys: Iterable<CourseKey>,
): Promise<EnrollmentRecord[]> {
  const rows = await db.all<EnrollmentRow>(sql`
    SELECT e.tenant_id, e.user_id, e.course_id, e.language, e.status, e.trace_id, e.granted_at,
      e.revoked_at, e.revoked_by_trace_id
    FROM json_each(${keysJson(keys)}) AS k JOIN course_enrollments AS e
      ON e.tenant_id = k.value ->> 0 AND e.user_id = k.value ->> 1 AND e.course_id = k.value ->> 2`);
  return rows.map((row) => ({
    tenantId: row.tenant_id,
    userId: row.user_id,
    courseId: row.course_id,
    language: row.language,
    status: row.status,
    traceId: row.trace_id,
    grantedAt: Number(row.granted_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
    revokedByTraceId: row.revoked_by_trace_id,
  }));
}
