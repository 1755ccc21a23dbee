import type { Tx } from "../db/database.ts";
import { courseEnrollments } from "../db/schema.ts";

export interface CourseGrant {
  tenantId: string;
  userId: string;
  courseId: string;
  language?: string | undefined;
  traceId: string;
}

/** 9 columns a row keeps one statement under SQLite's 32,766 bound parameters. */
const ROWS_PER_STATEMENT = 3_000;

/** Course access, the effect a payment buys. */
export class MonetizationService {
  /**
   * Grants each course with one multi-row insert. A course the user already has is left as it
   * is (the unique (tenant, user, course) index), so two payments leave one enrollment.
   */
  async grantCourseAccess(grants: readonly CourseGrant[], tx: Tx, now: number): Promise<void> {
    for (let start = 0; start < grants.length; start += ROWS_PER_STATEMENT) {
      const rows = grants.slice(start, start + ROWS_PER_STATEMENT).map((grant) => ({
        tenantId: grant.tenantId,
        userId: grant.userId,
        actorId: `${grant.tenantId}:${grant.userId}`,
        courseId: grant.courseId,
        language: grant.language ?? null,
        status: "active",
        traceId: grant.traceId,
        grantedAt: now,
      }));
      await tx.insert(courseEnrollments).values(rows).onConflictDoNothing();
    }
  }
}
