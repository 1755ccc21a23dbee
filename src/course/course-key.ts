/** What an enrollment is unique by: one learner of one tenant and one course. */
export interface CourseKey {
  readonly tenantId: string;
  readonly userId: string;
  readonly courseId: string;
}

export function keysEqual(a: CourseKey, b: CourseKey): boolean {
  return a.tenantId === b.tenantId && a.userId === b.userId && a.courseId === b.courseId;
}

/** A Map key for a CourseKey (ids hold no control characters, so \u0000 cannot collide). */
export function keyString(key: CourseKey): string {
  return `${key.tenantId}\u0000${key.userId}\u0000${key.courseId}`;
}

export function pickKey(key: CourseKey): CourseKey {
  return { tenantId: key.tenantId, userId: key.userId, courseId: key.courseId };
}

const FIELDS = [
  ["tenantId", "tenant_id"],
  ["userId", "user_id"],
  ["courseId", "course_id"],
] as const;

/**
 * Names each field in which `other` differs from `reference`, e.g.
 * `user_id "u2" where the payment has "u1"; course_id "c2" where the payment has "c1"`.
 */
export function describeMismatch(
  reference: CourseKey,
  other: CourseKey,
  referenceName: string,
): string {
  return FIELDS.filter(([field]) => reference[field] !== other[field])
    .map(
      ([field, column]) =>
        `${column} ${JSON.stringify(other[field])} where ${referenceName} has ${JSON.stringify(reference[field])}`,
    )
    .join("; ");
}
