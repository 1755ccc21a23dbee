import { integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * One row per course a user may open. The integer key keeps inserts appending to the B-tree
 * (random UUID keys made them 2–3× slower); the unique index is what makes two payments for
 * one course leave one enrollment.
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
    status: text("status").notNull().default("active"),
    /** The trace_id of the payment that granted the course. */
    traceId: text("trace_id").notNull(),
    /** Milliseconds since the Unix epoch. */
    grantedAt: integer("granted_at").notNull(),
  },
  (table) => [
    uniqueIndex("course_enrollments_tenant_user_course").on(
      table.tenantId,
      table.userId,
      table.courseId,
    ),
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
export type ProcessedEvent = typeof processedEvents.$inferSelect;
