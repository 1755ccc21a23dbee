import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { type CourseKey, keyString } from "../../src/course/course-key.ts";
import { readEnrollments } from "../../src/course/enrollment-recompute.ts";
import { MonetizationService } from "../../src/course/monetization-service.ts";
import type { PaymentFact } from "../../src/course/payment-rules.ts";
import { readPaymentsOfKeys } from "../../src/course/payment-store.ts";
import type { Database } from "../../src/db/database.ts";
import { silentLogger } from "../../src/observe/logger.ts";
import { seededRandom } from "../../src/simulator/load-generator.ts";
import { openStore } from "../../src/worker.ts";
import { CourseModel, chargedBack, paid, refunded } from "../support/course-model.ts";
import { testConfig } from "../support/worker-harness.ts";

const databases: Database[] = [];
afterAll(() => {
  for (const database of databases) database.close();
});

/** A random history for one tenant: payments on 2 keys, reversals (some wrong, some twice). */
function history(random: () => number, tenant: string): PaymentFact[] {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  const keys: CourseKey[] = [
    { tenantId: tenant, userId: "u1", courseId: "c1" },
    { tenantId: tenant, userId: "u1", courseId: "c2" },
  ];
  const facts: PaymentFact[] = [];
  const payments = 1 + Math.floor(random() * 4);
  for (let i = 0; i < payments; i++) {
    const key = pick(keys);
    const traceId = `${tenant}_p${i}`;
    facts.push(paid(traceId, key, pick(["de", "en", null])));
    const reversals = Math.floor(random() * 3);
    for (let r = 0; r < reversals; r++) {
      // One reversal in five names the other key: a conflict or, if first, set aside.
      const named = random() < 0.2 ? pick(keys) : key;
      const make = random() < 0.5 ? refunded : chargedBack;
      facts.push(make(`${traceId}_r${r}`, traceId, named));
    }
  }
  // Shuffle: reversals may come before their payment.
  for (let i = facts.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [facts[i], facts[j]] = [facts[j] as PaymentFact, facts[i] as PaymentFact];
  }
  return facts;
}

/** Splits facts into consecutive batches of 1–3. */
function batches(random: () => number, facts: PaymentFact[]): PaymentFact[][] {
  const out: PaymentFact[][] = [];
  for (let i = 0; i < facts.length; ) {
    const size = 1 + Math.floor(random() * 3);
    out.push(facts.slice(i, i + size));
    i += size;
  }
  return out;
}

describe("the recompute statement and the payment fold on the database", () => {
  test("agree with the pure model on 300 random histories, batch by batch, column by column", async () => {
    const database = await openStore(testConfig(), silentLogger());
    databases.push(database);
    const service = new MonetizationService();
    const random = seededRandom(20_261_202);
    const seen = new Set<string>();
    for (let h = 0; h < 300; h++) {
      const tenant = `t${h}`;
      const model = new CourseModel();
      const keys: CourseKey[] = [
        { tenantId: tenant, userId: "u1", courseId: "c1" },
        { tenantId: tenant, userId: "u1", courseId: "c2" },
      ];
      let now = 1_000;
      for (const batch of batches(random, history(random, tenant))) {
        now += Math.floor(random() * 2); // two batches in one millisecond, now and then
        const expected = model.apply(batch, now);
        for (const effect of expected) seen.add(effect.type);
        const result = await database.db.transaction((tx) =>
          service.applyPaymentFacts(batch, tx, now),
        );
        expect(result.effects).toEqual(expected);
      }
      const payments = await readPaymentsOfKeys(database.db, keys);
      const inModel = [...model.payments.values()];
      const byTrace = (a: { traceId: string }, b: { traceId: string }) =>
        a.traceId < b.traceId ? -1 : 1;
      expect([...payments].sort(byTrace)).toEqual([...inModel].sort(byTrace));
      const enrollments = await readEnrollments(database.db, keys);
      const sortKey = (a: CourseKey, b: CourseKey) => (keyString(a) < keyString(b) ? -1 : 1);
      expect([...enrollments].sort(sortKey)).toEqual([...model.enrollments.values()].sort(sortKey));
    }
    const [{ n } = { n: 0 }] = await database.db.all<{ n: number }>(
      sql`SELECT count(*) AS n FROM course_enrollments WHERE status = 'revoked'`,
    );
    expect(Number(n)).toBeGreaterThan(20); // the histories did exercise revocation
    expect([...seen].sort()).toEqual([
      "already_reversed",
      "conflict",
      "granted",
      "paid_reversed",
      "reversal_set_aside",
      "reversed",
      "reversed_before_payment",
    ]);
  }, 60_000);
});
