import { describe, expect, test } from "bun:test";
import { applyFact, foldPayments, type PaymentRecord } from "../../src/course/payment-rules.ts";
import { CourseModel, chargedBack, paid, permutations, refunded } from "../support/course-model.ts";

const K = { tenantId: "t1", userId: "u1", courseId: "c1" };
const OTHER_USER = { ...K, userId: "u2" };
const OTHER_COURSE = { ...K, courseId: "c2" };

/** Each fact in its own batch, one millisecond apart, in the given order. */
function oneByOne(facts: Parameters<CourseModel["apply"]>[0]) {
  const model = new CourseModel();
  const effects = facts.map((fact, i) => model.apply([fact], 1000 + i)[0]);
  return { model, effects };
}

const stateOf = (model: CourseModel, traceId: string): string | undefined =>
  model.payments.get(traceId)?.state;

describe("applyFact", () => {
  test("a new payment is recorded in good standing", () => {
    expect(applyFact(undefined, paid("p1", K, "de"), 5)).toEqual({
      row: {
        ...K,
        traceId: "p1",
        language: "de",
        state: "succeeded",
        paidAt: 5,
        reversalTraceId: null,
        reversedAt: null,
      },
      effect: { type: "granted" },
    });
  });

  test("a reversal before its payment is recorded on the payment's row, paid_at null", () => {
    const { row, effect } = applyFact(undefined, chargedBack("r1", "p1", K), 5);
    expect(effect).toEqual({ type: "reversed_before_payment" });
    expect(row).toMatchObject({
      traceId: "p1",
      state: "charged_back",
      paidAt: null,
      reversalTraceId: "r1",
      reversedAt: 5,
    });
  });

  test("a payment already on record (backfilled) changes nothing", () => {
    const stored = applyFact(undefined, paid("p1", K), 1).row as PaymentRecord;
    expect(applyFact(stored, paid("p1", K), 9)).toEqual({
      row: stored,
      effect: { type: "granted" },
    });
  });
});

describe("a payment and its refund or chargeback, in both orders", () => {
  for (const reversal of [refunded("r1", "p1", K), chargedBack("r1", "p1", K)]) {
    const state = reversal.kind === "reversed" ? reversal.state : "";
    test(`payment then ${state}: the course is revoked, by r1`, () => {
      const { model, effects } = oneByOne([paid("p1", K), reversal]);
      expect(effects.map((e) => e?.type)).toEqual(["granted", "reversed"]);
      expect(model.statusOf(K)).toBe("revoked");
      expect(model.enrollments.get("t1\u0000u1\u0000c1")).toMatchObject({
        traceId: "p1",
        revokedByTraceId: "r1",
        grantedAt: 1000,
        revokedAt: 1001,
      });
      expect(stateOf(model, "p1")).toBe(state);
    });

    test(`${state} then payment: recorded first, and the payment never makes it active`, () => {
      const { model, effects } = oneByOne([reversal, paid("p1", K)]);
      expect(effects.map((e) => e?.type)).toEqual(["reversed_before_payment", "paid_reversed"]);
      expect(model.statusOf(K)).toBe("revoked");
      expect(model.enrollments.get("t1\u0000u1\u0000c1")).toMatchObject({
        traceId: "p1",
        revokedByTraceId: "r1",
      });
      expect(model.payments.get("p1")).toMatchObject({ state, paidAt: 1001, reversedAt: 1000 });
    });
  }
});

describe("two payments for one course", () => {
  const events = [paid("p1", K), paid("p2", K), refunded("r1", "p1", K)];
  for (const order of permutations(events)) {
    const names = order.map((f) => f.traceId).join(", ");
    test(`one of them refunded (${names}): still active, backed by p2`, () => {
      const { model } = oneByOne(order);
      expect(model.statusOf(K)).toBe("active");
      expect(model.enrollments.get("t1\u0000u1\u0000c1")?.traceId).toBe("p2");
    });
  }

  const both = [...events, chargedBack("r2", "p2", K)];
  for (const order of permutations(both)) {
    const names = order.map((f) => f.traceId).join(", ");
    test(`both reversed (${names}): revoked`, () => {
      const { model } = oneByOne(order);
      expect(model.statusOf(K)).toBe("revoked");
      expect(stateOf(model, "p1")).toBe("refunded");
      expect(stateOf(model, "p2")).toBe("charged_back");
    });
  }
});

describe("a new payment after a refund", () => {
  test("grants the course again, granted_at moving to the new grant", () => {
    const { model } = oneByOne([paid("p1", K), refunded("r1", "p1", K), paid("p2", K)]);
    expect(model.enrollments.get("t1\u0000u1\u0000c1")).toMatchObject({
      status: "active",
      traceId: "p2",
      grantedAt: 1002,
      revokedAt: null,
      revokedByTraceId: null,
    });
  });

  test("grants it too when the refund arrived before its own payment", () => {
    const { model } = oneByOne([refunded("r1", "p1", K), paid("p1", K), paid("p2", K)]);
    expect(model.statusOf(K)).toBe("active");
    expect(model.enrollments.get("t1\u0000u1\u0000c1")?.traceId).toBe("p2");
  });
});

describe("a reversal that does not match its payment", () => {
  for (const [what, key, named] of [
    ["user", OTHER_USER, 'user_id "u2" where the payment has "u1"'],
    ["course", OTHER_COURSE, 'course_id "c2" where the payment has "c1"'],
    ["tenant", { ...K, tenantId: "t9" }, 'tenant_id "t9" where the payment has "t1"'],
  ] as const) {
    test(`payment first, another ${what}: a conflict naming it, nothing changes`, () => {
      const { model, effects } = oneByOne([paid("p1", K), refunded("r1", "p1", key)]);
      expect(effects[1]).toEqual({
        type: "conflict",
        detail: `refund r1 does not match payment p1: ${named}`,
      });
      expect(model.statusOf(K)).toBe("active");
      expect(model.statusOf(key)).toBeUndefined();
      expect(stateOf(model, "p1")).toBe("succeeded");
    });

    test(`reversal first, another ${what}: the payment counts, the reversal is set aside`, () => {
      const { model, effects } = oneByOne([refunded("r1", "p1", key), paid("p1", K)]);
      expect(effects[1]).toEqual({
        type: "reversal_set_aside",
        reversalTraceId: "r1",
        detail: `reversal r1, recorded before payment p1 arrived, does not match it and is set aside: ${named.replace("the payment has", "the payment has")}`,
      });
      expect(model.statusOf(K)).toBe("active");
      expect(model.statusOf(key)).toBeUndefined();
      expect(model.payments.get("p1")).toMatchObject({
        ...K,
        state: "succeeded",
        reversalTraceId: null,
      });
    });
  }

  test("two reversals of an unknown payment that disagree: the second is a conflict", () => {
    const { model, effects } = oneByOne([
      refunded("r1", "p1", K),
      refunded("r2", "p1", OTHER_USER),
    ]);
    expect(effects[1]).toEqual({
      type: "conflict",
      detail:
        'refund r2 does not match reversal r1, recorded for payment p1 before it arrived: user_id "u2" where that reversal has "u1"',
    });
    expect(model.payments.get("p1")?.reversalTraceId).toBe("r1");
  });

  test("a conflict never touches the other learner's own course", () => {
    const { model } = oneByOne([
      paid("p2", OTHER_USER),
      paid("p1", K),
      refunded("r1", "p1", OTHER_USER),
    ]);
    expect(model.statusOf(OTHER_USER)).toBe("active");
    expect(model.statusOf(K)).toBe("active");
  });
});

describe("a second reversal of a reversed payment", () => {
  const events = [paid("p1", K), refunded("r1", "p1", K), chargedBack("r2", "p1", K)];
  for (const order of permutations(events)) {
    const names = order.map((f) => f.traceId).join(", ");
    test(`changes nothing and is not an error (${names})`, () => {
      const { model, effects } = oneByOne(order);
      expect(effects.some((e) => e?.type === "conflict")).toBe(false);
      expect(effects.filter((e) => e?.type === "already_reversed")).toHaveLength(1);
      expect(model.statusOf(K)).toBe("revoked");
      // The first reversal to arrive is the one on record.
      const first = order.find((f) => f.kind === "reversed");
      expect(model.payments.get("p1")?.reversalTraceId).toBe(first?.traceId);
    });
  }
});

describe("one batch holding a payment and its reversals", () => {
  const histories = [
    [paid("p1", K), refunded("r1", "p1", K)],
    [paid("p1", K), paid("p2", K), refunded("r1", "p1", K)],
    [paid("p1", K), paid("p2", K), refunded("r1", "p1", K), chargedBack("r2", "p2", K)],
    [paid("p1", K), refunded("r1", "p1", K), chargedBack("r2", "p1", K)],
  ];
  for (const history of histories) {
    const names = history.map((f) => f.traceId).join(", ");
    test(`gives the status of every order, one event a batch (${names})`, () => {
      for (const order of permutations(history)) {
        const batch = new CourseModel();
        batch.apply(order, 1000);
        const sequential = oneByOne(order).model;
        expect(batch.statusOf(K)).toBe(sequential.statusOf(K) as string);
        for (const fact of history) {
          if (fact.kind !== "paid") continue;
          expect(stateOf(batch, fact.traceId)).toBe(stateOf(sequential, fact.traceId));
        }
      }
    });
  }

  test("foldPayments reports only the rows it changed, and whether a reversal undid a stored payment", () => {
    const stored = new Map([["p0", applyFact(undefined, paid("p0", K), 1).row as PaymentRecord]]);
    const { changed, effects } = foldPayments(
      stored,
      [
        refunded("r0", "p0", K),
        paid("p1", K),
        refunded("r1", "p1", K),
        refunded("r9", "p0", OTHER_USER),
      ],
      7,
    );
    expect([...changed.keys()].sort()).toEqual(["p0", "p1"]);
    expect(effects).toEqual([
      { type: "reversed", wasStored: true },
      { type: "granted" },
      { type: "reversed", wasStored: false },
      expect.objectContaining({ type: "conflict" }),
    ]);
  });
});
