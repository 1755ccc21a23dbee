/**
 * Read-only questions support asks about course access: which courses a learner has, which
 * payment granted each, whether that payment's processing was recorded, and the payments of
 * each course with their refunds and chargebacks.
 */
import { and, count, desc, eq, type SQL } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import { courseEnrollments as enrollments, processedEvents as processed } from "../db/schema.ts";
import { keyString } from "./course-key.ts";
import { COURSE_PAYMENT_SUBSCRIBER } from "./course-payment-subscriber.ts";
import type { PaymentRecord } from "./payment-rules.ts";
import { readPaymentsOfKeys } from "./payment-store.ts";

export interface EnrollmentFilter {
  tenantId: string;
  userId?: string | undefined;
  courseId?: string | undefined;
  /** The newest this many. */
  limit: number;
}

export interface EnrollmentView {
  tenantId: string;
  userId: string;
  actorId: string;
  courseId: string;
  language: string | null;
  /** `active` or `revoked`. */
  status: string;
  /** The payment the status rests on: the one that granted it, or the last one reversed. */
  traceId: string;
  /** Milliseconds since the epoch. */
  grantedAt: number;
  /** Milliseconds since the epoch; null while active. */
  revokedAt: number | null;
  /** The refund or chargeback that revoked it; null while active. */
  revokedByTraceId: string | null;
  /** Every payment of this course for this learner, oldest first, with its reversal. */
  payments: PaymentRecord[];
  /** Its processed_events row, or null when there is none (e.g. a row written by hand). */
  processing: {
    outcome: string;
    /** Milliseconds since the epoch. */
    processedAt: number;
    streamEntryId: string;
  } | null;
}

export interface EnrollmentPage {
  /** Oldest first, so the newest is last (like `dlq list`). */
  enrollments: EnrollmentView[];
  /** How many match the filter, shown or not. */
  total: number;
}

function matching(filter: EnrollmentFilter): SQL | undefined {
  return and(
    eq(enrollments.tenantId, filter.tenantId),
    filter.userId === undefined ? undefined : eq(enrollments.userId, filter.userId),
    filter.courseId === undefined ? undefined : eq(enrollments.courseId, filter.courseId),
  );
}

/**
 * The newest `limit` enrollments matching the filter, each with the processed_events row of
 * its trace_id. With a user, the filter follows the unique (user, tenant, course) index; a whole
 * tenant is a scan of the table. The join gives processed_events' whole primary key
 * (subscriber, trace_id), an index lookup, and the payments come by their (user, tenant,
 * course) index.
 */
export async function findEnrollments(db: Db, filter: EnrollmentFilter): Promise<EnrollmentPage> {
  const rows = await db
    .select({
      tenantId: enrollments.tenantId,
      userId: enrollments.userId,
      actorId: enrollments.actorId,
      courseId: enrollments.courseId,
      language: enrollments.language,
      status: enrollments.status,
      traceId: enrollments.traceId,
      grantedAt: enrollments.grantedAt,
      revokedAt: enrollments.revokedAt,
      revokedByTraceId: enrollments.revokedByTraceId,
      outcome: processed.outcome,
      processedAt: processed.processedAt,
      streamEntryId: processed.streamEntryId,
    })
    .from(enrollments)
    .leftJoin(
      processed,
      and(
        eq(processed.subscriberName, COURSE_PAYMENT_SUBSCRIBER),
        eq(processed.traceId, enrollments.traceId),
      ),
    )
    .where(matching(filter))
    .orderBy(desc(enrollments.grantedAt), desc(enrollments.id))
    .limit(filter.limit);
  const [totals] = await db.select({ total: count() }).from(enrollments).where(matching(filter));
  const payments = new Map<string, PaymentRecord[]>();
  for (const payment of await readPaymentsOfKeys(db, rows)) {
    const key = keyString(payment);
    payments.set(key, [...(payments.get(key) ?? []), payment]);
  }
  return {
    enrollments: rows.reverse().map(({ outcome, processedAt, streamEntryId, ...row }) => ({
      ...row,
      payments: payments.get(keyString(row)) ?? [],
      processing:
        outcome === null || processedAt === null || streamEntryId === null
          ? null
          : { outcome, processedAt, streamEntryId },
    })),
    total: totals?.total ?? 0,
  };
}
