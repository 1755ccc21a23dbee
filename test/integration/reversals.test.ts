import { afterAll, describe, expect, test } from "bun:test";
import type { BatchEntry } from "../../src/dispatch/dispatcher.ts";
import { chargeback, courseDispatcher, payment, refund } from "../support/course-events.ts";
import { permutations } from "../support/course-model.ts";
import { capturingLogger } from "../support/worker-harness.ts";

const opened: { database: { close(): void } }[] = [];
afterAll(() => {
  for (const store of opened) store.database.close();
});

async function store(logger?: Parameters<typeof courseDispatcher>[0]) {
  const s = await courseDispatcher(logger);
  opened.push(s);
  return s;
}

const outcomes = (results: { outcomes: { outcome: string }[] }[]) =>
  results.map((r) => r.outcomes.map((o) => o.outcome).join(","));

describe("a payment and its reversal, in both orders", () => {
  for (const [name, reverse] of [
    ["refund", refund],
    ["chargeback", chargeback],
  ] as const) {
    const state = name === "refund" ? "refunded" : "charged_back";

    test(`payment, then ${name}: access revoked, with revoked_at and the ${name}'s trace_id`, async () => {
      const s = await store();
      const results = await s.oneByOne([
        payment({ trace_id: "p1" }),
        reverse({ trace_id: "r1", payment_trace_id: "p1" }),
      ]);
      expect(outcomes(results)).toEqual(["applied", "applied"]);
      expect(await s.enrollment()).toMatchObject({
        status: "revoked",
        trace_id: "p1",
        revoked_by_trace_id: "r1",
      });
      expect(Number((await s.enrollment())?.revoked_at)).toBeGreaterThan(0);
      expect(await s.paymentRow("p1")).toMatchObject({ state, reversal_trace_id: "r1" });
    });

    test(`${name}, then payment: the ${name} is recorded and the payment never makes it active`, async () => {
      const s = await store();
      const [first] = await s.oneByOne([reverse({ trace_id: "r1", payment_trace_id: "p1" })]);
      expect(outcomes([first as never])).toEqual(["applied"]);
      expect(await s.status()).toBeUndefined();
      expect(await s.paymentRow("p1")).toMatchObject({ state, paid_at: null });
      await s.oneByOne([payment({ trace_id: "p1" })]);
      expect(await s.enrollment()).toMatchObject({
        status: "revoked",
        trace_id: "p1",
        revoked_by_trace_id: "r1",
      });
    });
  }
});

describe("several payments for one course", () => {
  const p1 = () => payment({ trace_id: "p1" });
  const p2 = () => payment({ trace_id: "p2" });
  const r1 = () => refund({ trace_id: "r1", payment_trace_id: "p1" });
  const r2 = () => chargeback({ trace_id: "r2", payment_trace_id: "p2" });

  for (const order of permutations([0, 1, 2])) {
    test(`two payments, one refunded (order ${order.join("")}): still active`, async () => {
      const s = await store();
      const make = [p1, p2, r1];
      await s.oneByOne(order.map((i) => (make[i] as () => BatchEntry)()));
      expect(await s.enrollment()).toMatchObject({ status: "active", trace_id: "p2" });
    });
  }

  for (const order of [
    [0, 1, 2, 3],
    [3, 2, 1, 0],
    [2, 0, 3, 1],
  ]) {
    test(`two payments, both reversed (order ${order.join("")}): revoked`, async () => {
      const s = await store();
      const make = [p1, p2, r1, r2];
      await s.oneByOne(order.map((i) => (make[i] as () => BatchEntry)()));
      expect(await s.status()).toBe("revoked");
    });
  }

  test("a new payment after a refund grants the course again", async () => {
    const s = await store();
    await s.oneByOne([p1(), r1()]);
    expect(await s.status()).toBe("revoked");
    await s.oneByOne([p2()]);
    expect(await s.enrollment()).toMatchObject({
      status: "active",
      trace_id: "p2",
      revoked_at: null,
      revoked_by_trace_id: null,
    });
  });

  test("a new payment after a refund that came before its payment grants it too", async () => {
    const s = await store();
    await s.oneByOne([r1(), p1(), p2()]);
    expect(await s.enrollment()).toMatchObject({ status: "active", trace_id: "p2" });
  });
});

describe("a reversal that does not match its payment", () => {
  const wrongUser = () =>
    refund({ trace_id: "r1", payment_trace_id: "p1", user_id: "someone_else" });

  test("payment first: dead-lettered as conflict, naming the mismatch; nobody's access changes", async () => {
    const s = await store();
    await s.oneByOne([payment({ trace_id: "p2", user_id: "someone_else" })]);
    const [, result] = await s.oneByOne([payment({ trace_id: "p1" }), wrongUser()]);
    expect(result?.outcomes).toEqual([
      { subscriber: "course_payment_subscriber", outcome: "conflict" },
    ]);
    expect(result?.disposition).toEqual({
      kind: "dead_letter",
      reason: "conflict",
      subscriber: "course_payment_subscriber",
      detail:
        'refund r1 does not match payment p1: user_id "someone_else" where the payment has "test_user"',
    });
    expect(await s.status()).toBe("active");
    expect(await s.status("course_001", "someone_else")).toBe("active");
    expect(await s.paymentRow("p1")).toMatchObject({ state: "succeeded", reversal_trace_id: null });
    // Nothing of it was applied, so nothing records it: a replay is judged again.
    expect(await s.processed("r1")).toBeUndefined();
    const [again] = await s.oneByOne([wrongUser()]);
    expect(again?.disposition).toMatchObject({ kind: "dead_letter", reason: "conflict" });
  });

  test("a course mismatch names the course", async () => {
    const s = await store();
    const [, result] = await s.oneByOne([
      payment({ trace_id: "p1" }),
      chargeback({ trace_id: "r1", payment_trace_id: "p1", course_id: "course_999" }),
    ]);
    expect(result?.disposition).toMatchObject({
      reason: "conflict",
      detail:
        'chargeback r1 does not match payment p1: course_id "course_999" where the payment has "course_001"',
    });
  });

  test("reversal first: the payment still grants the course; the reversal is set aside and logged as an error", async () => {
    const { logger, lines } = capturingLogger();
    const s = await store(logger);
    const results = await s.oneByOne([wrongUser(), payment({ trace_id: "p1" })]);
    expect(outcomes(results)).toEqual(["applied", "applied"]);
    expect(await s.status()).toBe("active");
    expect(await s.status("course_001", "someone_else")).toBeUndefined();
    expect(await s.paymentRow("p1")).toMatchObject({
      user_id: "test_user",
      state: "succeeded",
      reversal_trace_id: null,
    });
    const setAside = lines().find((l) => String(l.msg).includes("set aside"));
    expect(setAside).toMatchObject({
      level: "error",
      trace_id: "p1",
      reversal_trace_id: "r1",
      detail:
        'reversal r1, recorded before payment p1 arrived, does not match it and is set aside: user_id "someone_else" where the payment has "test_user"',
    });
  });

  test("in one batch with its payment, the batch's order decides as one event a batch would", async () => {
    const s = await store();
    const after = await s.dispatcher.dispatch([payment({ trace_id: "p1" }), wrongUser()]);
    expect(outcomes(after)).toEqual(["applied", "conflict"]);
    expect(after[1]?.disposition).toMatchObject({ kind: "dead_letter", reason: "conflict" });
    expect(await s.status()).toBe("active");

    const t = await store();
    const before = await t.dispatcher.dispatch([wrongUser(), payment({ trace_id: "p1" })]);
    expect(outcomes(before)).toEqual(["applied", "applied"]);
    expect(await t.status()).toBe("active");
  });
});

describe("repeats", () => {
  test("a second reversal of a reversed payment changes nothing and is not an error", async () => {
    const s = await store();
    const results = await s.oneByOne([
      payment({ trace_id: "p1" }),
      refund({ trace_id: "r1", payment_trace_id: "p1" }),
      chargeback({ trace_id: "r2", payment_trace_id: "p1" }),
    ]);
    expect(results.map((r) => r.disposition.kind)).toEqual(["ack", "ack", "ack"]);
    expect(outcomes(results)).toEqual(["applied", "applied", "applied"]);
    expect(await s.paymentRow("p1")).toMatchObject({ state: "refunded", reversal_trace_id: "r1" });
    expect(await s.enrollment()).toMatchObject({ status: "revoked", revoked_by_trace_id: "r1" });
  });

  test("two reversals before their payment: the first stays, the payment is reversed", async () => {
    const s = await store();
    await s.oneByOne([
      chargeback({ trace_id: "r2", payment_trace_id: "p1" }),
      refund({ trace_id: "r1", payment_trace_id: "p1" }),
      payment({ trace_id: "p1" }),
    ]);
    expect(await s.paymentRow("p1")).toMatchObject({
      state: "charged_back",
      reversal_trace_id: "r2",
    });
    expect(await s.status()).toBe("revoked");
  });

  for (const [name, before] of [
    ["after its payment", true],
    ["before its payment", false],
  ] as const) {
    test(`the same reversal trace_id again ${name} is a duplicate`, async () => {
      const s = await store();
      const r1 = () => refund({ trace_id: "r1", payment_trace_id: "p1" });
      const entries = before
        ? [payment({ trace_id: "p1" }), r1(), r1()]
        : [r1(), r1(), payment({ trace_id: "p1" })];
      const results = await s.oneByOne(entries);
      expect(outcomes(results)).toEqual(
        before ? ["applied", "applied", "duplicate"] : ["applied", "duplicate", "applied"],
      );
      expect(await s.status()).toBe("revoked");
    });
  }

  test("a refund reusing its payment's trace_id is refused by the schema", async () => {
    const s = await store();
    const [result] = await s.oneByOne([refund({ trace_id: "p1", payment_trace_id: "p1" })]);
    expect(result?.disposition).toMatchObject({
      kind: "dead_letter",
      reason: "invalid_event",
      detail: "event: metadata.payment_trace_id must not be the event's own trace_id",
    });
  });
});

describe("one batch mixing payments and reversals of one payment", () => {
  const histories: [string, (() => BatchEntry)[]][] = [
    [
      "p1 + its refund",
      [() => payment({ trace_id: "p1" }), () => refund({ trace_id: "r1", payment_trace_id: "p1" })],
    ],
    [
      "p1, p2 + p1's refund",
      [
        () => payment({ trace_id: "p1" }),
        () => payment({ trace_id: "p2" }),
        () => refund({ trace_id: "r1", payment_trace_id: "p1" }),
      ],
    ],
    [
      "p1 + refund + chargeback",
      [
        () => payment({ trace_id: "p1" }),
        () => refund({ trace_id: "r1", payment_trace_id: "p1" }),
        () => chargeback({ trace_id: "r2", payment_trace_id: "p1" }),
      ],
    ],
  ];
  for (const [name, make] of histories) {
    test(`${name}: every order in one batch ends as one event a batch does`, async () => {
      for (const order of permutations(make.map((_, i) => i))) {
        const batch = await store();
        const sequential = await store();
        await batch.dispatcher.dispatch(order.map((i) => (make[i] as () => BatchEntry)()));
        await sequential.oneByOne(order.map((i) => (make[i] as () => BatchEntry)()));
        expect(await batch.status()).toBe((await sequential.status()) as string);
        for (const traceId of ["p1", "p2"]) {
          expect((await batch.paymentRow(traceId))?.state).toBe(
            (await sequential.paymentRow(traceId))?.state as string,
          );
        }
      }
    });
  }
});

describe("logs", () => {
  const messages = (lines: Record<string, unknown>[]) => lines.map((l) => String(l.msg));

  test("a revocation is logged twice, with tenant, user, course, payment and reversal trace_ids", async () => {
    const { logger, lines } = capturingLogger();
    const s = await store(logger);
    await s.oneByOne([
      payment({ trace_id: "p1" }),
      refund({ trace_id: "r1", payment_trace_id: "p1" }),
    ]);
    const expected = {
      tenant_id: "test_tenant",
      user_id: "test_user",
      course_id: "course_001",
      payment_trace_id: "p1",
      reversal_trace_id: "r1",
    };
    expect(lines().find((l) => l.msg === "[CoursePayment] Revoking course access")).toMatchObject(
      expected,
    );
    expect(lines().find((l) => l.msg === "[CoursePayment] Course access revoked")).toMatchObject(
      expected,
    );
    expect(messages(lines())).toContain("[CoursePayment] Course access granted successfully");
  });

  test("nothing is logged as revoked while another payment backs the course", async () => {
    const { logger, lines } = capturingLogger();
    const s = await store(logger);
    await s.oneByOne([
      payment({ trace_id: "p1" }),
      payment({ trace_id: "p2" }),
      refund({ trace_id: "r1", payment_trace_id: "p1" }),
    ]);
    expect(messages(lines()).filter((m) => m.includes("evok"))).toEqual([]);
    expect(lines().find((l) => String(l.msg).includes("access unchanged"))).toMatchObject({
      trace_id: "r1",
      reason: "another payment still backs the course",
    });
  });

  test("a payment whose refund came first says it does not grant the course", async () => {
    const { logger, lines } = capturingLogger();
    const s = await store(logger);
    await s.oneByOne([
      refund({ trace_id: "r1", payment_trace_id: "p1" }),
      payment({ trace_id: "p1" }),
    ]);
    const text = messages(lines());
    expect(text).toContain("[CoursePayment] Payment already reversed; course access not granted");
    expect(text).not.toContain("[CoursePayment] Course access granted successfully");
    expect(text.filter((m) => m.includes("evok"))).toEqual([]);
  });
});
