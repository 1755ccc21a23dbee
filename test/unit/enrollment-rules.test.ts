import { describe, expect, test } from "bun:test";
import {
  decidingPayment,
  deriveEnrollment,
  type EnrollmentRecord,
} from "../../src/course/enrollment-rules.ts";
import type { PaymentRecord } from "../../src/course/payment-rules.ts";

const K = { tenantId: "t1", userId: "u1", courseId: "c1" };

function payment(traceId: string, fields: Partial<PaymentRecord> = {}): PaymentRecord {
  return {
    ...K,
    traceId,
    language: null,
    state: "succeeded",
    paidAt: 100,
    reversalTraceId: null,
    reversedAt: null,
    ...fields,
  };
}

const reversed = (traceId: string, reversalTraceId: string, reversedAt: number, paidAt = 100) =>
  payment(traceId, { state: "refunded", reversalTraceId, reversedAt, paidAt });

const active: EnrollmentRecord = {
  ...K,
  language: "de",
  status: "active",
  traceId: "p1",
  grantedAt: 100,
  revokedAt: null,
  revokedByTraceId: null,
};

describe("decidingPayment", () => {
  test("good standing first, the earliest paid, ties to the smaller trace_id", () => {
    const chosen = decidingPayment([
      reversed("p0", "r0", 50, 10),
      payment("p3", { paidAt: 300 }),
      payment("p2", { paidAt: 200 }),
      payment("p1", { paidAt: 200 }),
    ]);
    expect(chosen?.traceId).toBe("p1");
  });

  test("all reversed: the last reversed; payments not yet arrived never count", () => {
    expect(
      decidingPayment([
        reversed("p1", "r1", 500),
        reversed("p2", "r2", 700),
        reversed("p3", "r3", 900, null as unknown as number),
      ])?.traceId,
    ).toBe("p2");
    expect(decidingPayment([payment("p9", { paidAt: null, state: "refunded" })])).toBeUndefined();
  });
});

describe("deriveEnrollment", () => {
  test("a key none of whose payments arrived gets no row; a row without payments is left alone", () => {
    const early = payment("p1", { paidAt: null, state: "refunded", reversalTraceId: "r1" });
    expect(deriveEnrollment(K, undefined, [early], 5)).toBeUndefined();
    expect(deriveEnrollment(K, active, [], 5)).toBe(active);
  });

  test("a new row: active with its payment's language, or revoked at birth", () => {
    expect(deriveEnrollment(K, undefined, [payment("p1", { language: "fr" })], 5)).toEqual({
      ...K,
      language: "fr",
      status: "active",
      traceId: "p1",
      grantedAt: 5,
      revokedAt: null,
      revokedByTraceId: null,
    });
    expect(deriveEnrollment(K, undefined, [reversed("p1", "r1", 3)], 5)).toMatchObject({
      status: "revoked",
      traceId: "p1",
      grantedAt: 5,
      revokedAt: 5,
      revokedByTraceId: "r1",
    });
  });

  test("active stays on its payment while that one is in good standing, even if an older one exists", () => {
    const current = { ...active, traceId: "p2" };
    const payments = [payment("p1", { paidAt: 50 }), payment("p2", { paidAt: 100 })];
    expect(deriveEnrollment(K, current, payments, 9)).toBe(current);
  });

  test("its payment reversed while another backs it: active, on the other payment, granted_at kept", () => {
    const payments = [reversed("p1", "r1", 150), payment("p2", { paidAt: 120, language: "en" })];
    expect(deriveEnrollment(K, active, payments, 200)).toEqual({
      ...active,
      traceId: "p2",
      language: "en",
    });
  });

  test("revoked when the last payment goes, then granted again by a new one", () => {
    const p1 = { ...reversed("p1", "r1", 150), language: "de" };
    const revoked = deriveEnrollment(K, active, [p1], 150);
    expect(revoked).toEqual({
      ...active,
      status: "revoked",
      revokedAt: 150,
      revokedByTraceId: "r1",
    });
    const again = deriveEnrollment(K, revoked, [p1, payment("p2", { paidAt: 300 })], 300);
    expect(again).toEqual({ ...active, language: null, traceId: "p2", grantedAt: 300 });
  });

  test("a revoked row stays as it is when another payment arrives already reversed", () => {
    const revoked = { ...active, status: "revoked", revokedAt: 150, revokedByTraceId: "r1" };
    const payments = [reversed("p1", "r1", 150), reversed("p2", "r2", 100, 400)];
    expect(deriveEnrollment(K, revoked, payments, 400)).toBe(revoked);
  });
});
