/**
 * What a worker's database holds after a load mix, worked out from what was published: an
 * enrollment per (tenant, user, course) some payment was for, active while one of its payments
 * is not reversed. Any order gives the same result, so a count per key is all it takes.
 */
export class EnrollmentForecast {
  /** keyIndex → payments − reversals of them. */
  readonly #standing = new Map<number, number>();
  readonly #paid = new Set<number>();

  paid(keyIndex: number): void {
    this.#paid.add(keyIndex);
    this.#standing.set(keyIndex, (this.#standing.get(keyIndex) ?? 0) + 1);
  }

  reversed(keyIndex: number): void {
    this.#standing.set(keyIndex, (this.#standing.get(keyIndex) ?? 0) - 1);
  }

  /** Enrollments in all (keys with a published payment). */
  get enrollments(): number {
    return this.#paid.size;
  }

  get active(): number {
    let active = 0;
    for (const [keyIndex, standing] of this.#standing) {
      if (standing > 0 && this.#paid.has(keyIndex)) active++;
    }
    return active;
  }
}
