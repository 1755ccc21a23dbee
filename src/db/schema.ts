import {
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

/**
 * One row per (tenant, user, course) some payment was received for. The integer key keeps
 * inserts appending to the B-tree (random UUID keys made them 2–3× slower); the unique index is
 * what makes two payments for one course leave one enrollment. `status` is derived from
 * course_payments: `active` while at least one of its payments is in good standing, else
 * `revoked`.
 *
 * The unique index leads with user_id (until migration 0001: tenant_id). Learners' ids mostly
 * grow (sequences, time-ordered ids), so a batch's inserts land on a few pages at the end of the
 * index; led by tenant_id they landed on every tenant's pages. With the payments table's index
 * beside it, that was ~1.2 ms of a batch of 500 (measured in-process, in turn with the other
 * order). The price: `coursepay enrollments --tenant T` without --user scans the table.
 */
export const courseEnrollments = sqliteTable(
  "course_enrollments",
  {
    id: integer("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    userId: text("user_id").notNull(),
    /** `tenant_id:user_id`, the key the rest of the platform knows a learner by. */
    actorId: text("actor_id").notNull(),
    courseId: text("course_id").notNull(),
    language: text("language"),
    /** `active` | `revoked`. */
    status: text("status").notNull().default("active"),
    /**
     * The payment the status rests on: while active, the one that granted it; once revoked,
     * the last of its payments to be reversed.
     */
    traceId: text("trace_id").notNull(),
    /** When the current access was granted (ms since the epoch); kept once revoked. */
    grantedAt: integer("granted_at").notNull(),
    /** When it was revoked (ms since the epoch); null while active. */
    revokedAt: integer("revoked_at"),
    /** The trace_id of the refund or chargeback that revoked it; null while active. */
    revokedByTraceId: text("revoked_by_trace_id"),
  },
  (table) => [
    uniqueIndex("course_enrollments_user_tenant_course").on(
      table.userId,
      table.tenantId,
      table.courseId,
    ),
  ],
);

/** The states of a payment; a reversal is final. */
export const PAYMENT_STATES = ["succeeded", "refunded", "charged_back"] as const;
export type PaymentState = (typeof PAYMENT_STATES)[number];

/**
 * One row per payment trace_id, written by its `payment_succeeded` or, when that has not
 * arrived yet, by its reversal (then `paid_at` is null and the key is the reversal's, until the
 * payment confirms it). The key index serves the enrollment recompute; it leads with user_id
 * for the reason given at course_enrollments.
 */
export const coursePayments = sqliteTable(
  "course_payments",
  {
    traceId: text("trace_id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    userId: text("user_id").notNull(),
    courseId: text("course_id").notNull(),
    language: text("language"),
    /** `succeeded` (in good standing), `refunded` or `charged_back`. */
    state: text("state", { enum: PAYMENT_STATES }).notNull(),
    /** When its payment_succeeded was processed (ms since the epoch); null until it arrives. */
    paidAt: integer("paid_at"),
    /** The trace_id of the refund or chargeback that reversed it. */
    reversalTraceId: text("reversal_trace_id"),
    /** When that reversal was processed (ms since the epoch). */
    reversedAt: integer("reversed_at"),
  },
  (table) => [
    // No CHECK on state: the course module is its only writer, and a CHECK cost ~12% of the
    // time of writing a batch's payments.
    index("course_payments_user_tenant_course").on(table.userId, table.tenantId, table.courseId),
  ],
);

/**
 * The idempotency guard: one row per (subscriber, trace_id) whose effect has been committed,
 * written in the same transaction as that effect.
 */
export const processedEvents = sqliteTable(
  "processed_events",
  {
    subscriberName: text("subscriber_name").notNull(),
    traceId: text("trace_id").notNull(),
    eventType: text("event_type").notNull(),
    streamEntryId: text("stream_entry_id").notNull(),
    /** SHA-256 of the canonical fields that decide the effect; tells a replay from a conflict. */
    payloadHash: text("payload_hash").notNull(),
    outcome: text("outcome").notNull(),
    /** Milliseconds since the Unix epoch. */
    processedAt: integer("processed_at").notNull(),
  },
  // No secondary index: each one slows every insert; "the last processed event" is the
  // highest rowid.
  (table) => [primaryKey({ columns: [table.subscriberName, table.traceId] })],
);

export type CourseEnrollment = typeof courseEnrollments.$inferSelect;
export type CoursePayment = typeof coursePayments.$inferSelect;
export type ProcessedEvent = typeof processedEvents.$inferSelect;
