/**
 * The course module's rules run on an in-memory store: the payment fold and the enrollment
 * derivation, batch by batch, as MonetizationService runs them on the database. Tests compare
 * the two, and use the model to say what any order of events must leave behind.
 */
import { type CourseKey, keyString } from "../../src/course/course-key.ts";
import { deriveEnrollment, type EnrollmentRecord } from "../../src/course/enrollment-rules.ts";
import {
  type FactEffect,
  foldPayments,
  type PaymentFact,
  type PaymentRecord,
  paymentTraceIdOf,
} from "../../src/course/payment-rules.ts";

export class CourseModel {
  readonly payments = new Map<string, PaymentRecord>();
  readonly enrollments = new Map<string, EnrollmentRecord>();

  /** One batch at `now`; returns each fact's effect. */
  apply(facts: readonly PaymentFact[], now: number): readonly FactEffect[] {
    const stored = new Map<string, PaymentRecord>();
    for (const fact of facts) {
      const row = this.payments.get(paymentTraceIdOf(fact));
      if (row !== undefined) stored.set(row.traceId, row);
    }
    const { changed, effects } = foldPayments(stored, facts, now);
    const keys = new Map<string, CourseKey>();
    for (const row of changed.values()) {
      this.payments.set(row.traceId, row);
      if (row.paidAt !== null) keys.set(keyString(row), row);
    }
    for (const [id, key] of keys) {
      const ofKey = [...this.payments.values()].filter((p) => keyString(p) === id);
      const next = deriveEnrollment(key, this.enrollments.get(id), ofKey, now);
      if (next !== undefined) this.enrollments.set(id, next);
    }
    return effects;
  }

  statusOf(key: CourseKey): string | undefined {
    return this.enrollments.get(keyString(key))?.status;
  }
}

export function paid(traceId: string, key: CourseKey, language: string | null = null): PaymentFact {
  return { kind: "paid", traceId, key, language };
}

export function refunded(traceId: string, paymentTraceId: string, key: CourseKey): PaymentFact {
  return { kind: "reversed", traceId, paymentTraceId, key, state: "refunded" };
}

export function chargedBack(traceId: string, paymentTraceId: string, key: CourseKey): PaymentFact {
  return { kind: "reversed", traceId, paymentTraceId, key, state: "charged_back" };
}

/** Every ordering of `items`. */
export function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}
