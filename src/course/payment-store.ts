/**
 * course_payments, read and written a batch at a time: one statement each, the rows travelling
 * as one JSON parameter expanded by `json_each`, so the statement text never changes.
 */
import { sql } from "drizzle-orm";
import type { Db, Tx } from "../db/database.ts";
import type { PaymentState } from "../db/schema.ts";
import type { CourseKey } from "./course-key.ts";
import type { PaymentRecord } from "./payment-rules.ts";

interface PaymentRow {
  trace_id: string;
  tenant_id: string;
  user_id: string;
  course_id: string;
  language: string | null;
  state: PaymentState;
  paid_at: number | null;
  reversal_trace_id: string | null;
  reversed_at: number | null;
}

/**
 * The rows that exist of these payment trace_ids and, in the same read, every payment of
 * these (tenant, user, course) keys, by trace_id.
 */
export async function readPayments(
  tx: Tx,
  traceIds: Iterable<string>,
  keys: readonly CourseKey[] = [],
): Promise<Map<string, PaymentRecord>> {
  const ids = JSON.stringify([...traceIds]);
  const ofKeys = JSON.stringify(keys.map((key) => [key.tenantId, key.userId, key.courseId]));
  const rows = await tx.all<PaymentRow>(sql`
    SELECT p.trace_id, p.tenant_id, p.user_id, p.course_id, p.language, p.state, p.paid_at,
      p.reversal_trace_id, p.reversed_at
    FROM json_each(${ids}) AS k JOIN course_payments AS p ON p.trace_id = k.value
    UNION ALL
    SELECT p.trace_id, p.tenant_id, p.user_id, p.course_id, p.language, p.state, p.paid_at,
      p.reversal_trace_id, p.reversed_at
    FROM json_each(${ofKeys}) AS k JOIN course_payments AS p ON p.user_id = k.value ->> 1
      AND p.tenant_id = k.value ->> 0 AND p.course_id = k.value ->> 2`);
  return new Map(rows.map((row) => [row.trace_id, fromRow(row)]));
}

/** Every payment of these (tenant, user, course) keys, oldest first (reads, tests). */
export async function readPaymentsOfKeys(
  db: Db | Tx,
  keys: readonly CourseKey[],
): Promise<PaymentRecord[]> {
  const json = JSON.stringify(keys.map((key) => [key.tenantId, key.userId, key.courseId]));
  const rows = await db.all<PaymentRow>(sql`
    SELECT p.trace_id, p.tenant_id, p.user_id, p.course_id, p.language, p.state, p.paid_at,
      p.reversal_trace_id, p.reversed_at
    FROM json_each(${json}) AS k JOIN course_payments AS p
      ON p.tenant_id = k.value ->> 0 AND p.user_id = k.value ->> 1 AND p.course_id = k.value ->> 2
    ORDER BY coalesce(p.paid_at, p.reversed_at), p.trace_id`);
  return rows.map(fromRow);
}

function fromRow(row: PaymentRow): PaymentRecord {
  return {
    traceId: row.trace_id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    courseId: row.course_id,
    language: row.language,
    state: row.state,
    paidAt: row.paid_at === null ? null : Number(row.paid_at),
    reversalTraceId: row.reversal_trace_id,
    reversedAt: row.reversed_at === null ? null : Number(row.reversed_at),
  };
}

/**
 * Writes the final rows of the payments a batch changed with one multi-row upsert; each
 * trace_id at most once (the fold's result). A row's key changes only when the reversal that
 * wrote it is set aside (`keysChange`): naming the key columns in the update, even unchanged,
 * rewrites their index entries, a second page for every reversal, so they are named only then.
 */
export async function writePayments(
  tx: Tx,
  rows: Iterable<PaymentRecord>,
  keysChange = false,
): Promise<void> {
  const all = [...rows];
  if (all.length === 0) return;
  const keyColumns = sql.raw(
    keysChange
      ? "tenant_id = excluded.tenant_id, user_id = excluded.user_id, course_id = excluded.course_id,"
      : "",
  );
  // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
  await tx.run(sql`
    INSERT INTO course_payments (trace_id, tenant_id, user_id, course_id, language, state,
      paid_at, reversal_trace_id, reversed_at)
    ${rowsSelect(all)} WHERE true
    ON CONFLICT (trace_id) DO UPDATE SET ${keyColumns} language = excluded.language,
      state = excluded.state, paid_at = excluded.paid_at,
      reversal_trace_id = excluded.reversal_trace_id, reversed_at = excluded.reversed_at`);
}

/**
 * The rows as a SELECT over JSON parameters. Most rows of a batch are new payments, all paid at
 * the same instant: their constant columns are parameters rather than JSON fields, since SQLite
 * spends ~0.4 µs extracting each field of each row. The other rows (reversals, and payments
 * meeting a reversal that came first) carry every column; a batch holding both kinds (nearly
 * every batch once reversals are in the mix) joins the two with UNION ALL, still one statement.
 */
function rowsSelect(rows: readonly PaymentRecord[]) {
  const paidAt = rows.find(isNewlyPaid)?.paidAt ?? null;
  const newlyPaid: unknown[][] = [];
  const others: unknown[][] = [];
  for (const row of rows) {
    if (isNewlyPaid(row) && row.paidAt === paidAt) {
      newlyPaid.push([row.traceId, row.tenantId, row.userId, row.courseId, row.language]);
    } else {
      others.push([
        row.traceId,
        row.tenantId,
        row.userId,
        row.courseId,
        row.language,
        row.state,
        row.paidAt,
        row.reversalTraceId,
        row.reversedAt,
      ]);
    }
  }
  const compact = sql`SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4,
      'succeeded', ${paidAt}, NULL, NULL
    FROM json_each(${JSON.stringify(newlyPaid)})`;
  const full = sql`SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4,
      value ->> 5, value ->> 6, value ->> 7, value ->> 8
    FROM json_each(${JSON.stringify(others)})`;
  if (others.length === 0) return compact;
  if (newlyPaid.length === 0) return full;
  return sql`${compact} UNION ALL ${full}`;
}

function isNewlyPaid(row: PaymentRecord): boolean {
  return row.state === "succeeded" && row.reversalTraceId === null && row.paidAt !== null;
}
