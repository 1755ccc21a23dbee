/**
 * The effect of one payment or reversal, one event at a time, for the baselines (b) and (d):
 * its payment row, then its course's enrollment recomputed from that course's payments, with
 * coursepay's rules (src/course/payment-rules.ts, enrollment-rules.ts) but without the
 * mismatch check: the bench's reversals all match their payment.
 */
import type { Transaction } from "@libsql/client";
import { isPaymentSucceeded, PAYMENT_REFUNDED } from "../../../src/contract/event-schema.ts";
import type { CoursePaymentEvent } from "../../../src/course/payment-facts.ts";

type Executor = Pick<Transaction, "execute">;

/**
 * The enrollment of one key recomputed from its payments, as coursepay's recompute statement
 * does for a batch's keys (src/course/enrollment-recompute.ts), for one key.
 */
const RECOMPUTE_ONE = `
  INSERT INTO course_enrollments (tenant_id, user_id, actor_id, course_id, language, status,
    trace_id, granted_at, revoked_at, revoked_by_trace_id)
  SELECT ?1, ?2, ?1 || ':' || ?2, ?3, p.language,
    CASE p.state WHEN 'succeeded' THEN 'active' ELSE 'revoked' END, p.trace_id, ?4,
    CASE WHEN p.state <> 'succeeded' THEN ?4 END,
    CASE WHEN p.state <> 'succeeded' THEN p.reversal_trace_id END
  FROM course_payments AS p WHERE p.rowid = (
    SELECT c.rowid FROM course_payments AS c
    WHERE c.tenant_id = ?1 AND c.user_id = ?2 AND c.course_id = ?3 AND c.paid_at IS NOT NULL
    ORDER BY c.state <> 'succeeded',
      CASE WHEN c.state = 'succeeded' THEN c.paid_at ELSE -c.reversed_at END, c.trace_id
    LIMIT 1)
  ON CONFLICT (tenant_id, user_id, course_id) DO UPDATE SET status = excluded.status,
    trace_id = excluded.trace_id, language = excluded.language,
    granted_at = CASE WHEN excluded.status = 'active' AND course_enrollments.status <> 'active'
      THEN excluded.granted_at ELSE course_enrollments.granted_at END,
    revoked_at = CASE WHEN excluded.status = 'active' THEN NULL
      WHEN course_enrollments.status = 'active' THEN excluded.revoked_at
      ELSE course_enrollments.revoked_at END,
    revoked_by_trace_id = CASE WHEN excluded.status = 'active' THEN NULL
      WHEN course_enrollments.status = 'active' THEN excluded.revoked_by_trace_id
      ELSE course_enrollments.revoked_by_trace_id END
  WHERE course_enrollments.status <> excluded.status`;

/**
 * The effect of one payment or reversal on its payment row (the rules of
 * src/course/payment-rules.ts, without the mismatch check: the bench's reversals all match).
 */
export async function applyToPayment(tx: Executor, event: CoursePaymentEvent, now: number) {
  const key = [event.tenant_id, event.user_id, event.metadata.course_id];
  if (isPaymentSucceeded(event)) {
    await tx.execute({
      sql: `INSERT INTO course_payments (trace_id, tenant_id, user_id, course_id, language, state,
              paid_at) VALUES (?, ?, ?, ?, ?, 'succeeded', ?)
            ON CONFLICT (trace_id) DO UPDATE SET paid_at = coalesce(paid_at, excluded.paid_at),
              language = excluded.language`,
      args: [event.trace_id, ...key, event.metadata.language ?? null, now],
    });
  } else {
    const paymentTraceId = (event.metadata as { payment_trace_id: string }).payment_trace_id;
    await tx.execute({
      sql: `INSERT INTO course_payments (trace_id, tenant_id, user_id, course_id, state,
              reversal_trace_id, reversed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (trace_id) DO UPDATE SET state = excluded.state,
              reversal_trace_id = excluded.reversal_trace_id, reversed_at = excluded.reversed_at
            WHERE state = 'succeeded'`,
      args: [
        paymentTraceId,
        ...key,
        event.event_type === PAYMENT_REFUNDED ? "refunded" : "charged_back",
        event.trace_id,
        now,
      ],
    });
  }
  await tx.execute({ sql: RECOMPUTE_ONE, args: [...key, now] });
}
