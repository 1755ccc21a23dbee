import { sql } from "drizzle-orm";
import type { Tx } from "../db/database.ts";

export interface CourseGrant {
  tenantId: string;
  userId: string;
  courseId: string;
  language?: string | undefined;
  traceId: string;
}

/** Course access, the effect a payment buys. */
export class MonetizationService {
  /**
   * Grants each course with one multi-row insert (the rows as one JSON parameter expanded by
   * `json_each`, so the statement text never changes). A course the user already has is left
   * as it is (the unique (tenant, user, course) index), so two payments leave one enrollment.
   */
  async grantCourseAccess(grants: readonly CourseGrant[], tx: Tx, now: number): Promise<void> {
    if (grants.length === 0) return;
    const rows = JSON.stringify(
      grants.map((grant) => [
        grant.tenantId,
        grant.userId,
        grant.courseId,
        grant.language ?? null,
        grant.traceId,
      ]),
    );
    // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
    await tx.run(sql`
      INSERT INTO course_enrollments (tenant_id, user_id, actor_id, course_id, language, status,
        trace_id, granted_at)
      SELECT value ->> 0, value ->> 1, (value ->> 0) || ':' || (value ->> 1),
        value ->> 2, value ->> 3, 'active', value ->> 4, ${now}
      FROM json_each(${rows}) WHERE true
      ON CONFLICT DO NOTHING`);
  }
}
