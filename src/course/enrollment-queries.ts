/**
 * Read-only questions support asks about course access: which courses a learner has, which
 * payment granted each, and whether that payment's processing was recorded.
 */
import { and, count, desc, eq, type SQL } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import { courseEnrollments as enrollments, processedEvents as processed } from "../db/schema.ts";
import { COURSE_PAYMENT_SUBSCRIBER } from "./course-payment-subscriber.ts";

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
  status: string;
  /** The payment that granted the course. */
  traceId: string;
  /** Milliseconds since the epoch. */
  grantedAt: number;
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
 * its trace_id. The filter follows the unique (tenant, user, course) index, and the join gives
 * processed_events' whole primary key (subscriber, trace_id), so both are index lookups.
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
  return {
    enrollments: rows.reverse().map(({ outcome, processedAt, streamEntryId, ...row }) => ({
      ...row,
      processing:
        outcome === null || processedAt === null || streamEntryId === null
          ? null
          : { outcome, processedAt, streamEntryId },
    })),
    total: totals?.total ?? 0,
  };
}
