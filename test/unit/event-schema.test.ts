import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import {
  eventSchemaFor,
  IdSchema,
  isPaymentSucceeded,
  PAYMENT_SUCCEEDED,
  PaycoreEnvelopeSchema,
  PaymentSucceededSchema,
} from "../../src/contract/event-schema.ts";

const minimal = {
  event_type: PAYMENT_SUCCEEDED as typeof PAYMENT_SUCCEEDED,
  trace_id: "evt_1",
  tenant_id: "t1",
  user_id: "u1",
  metadata: { course_id: "c1" },
};

function messages(schema: v.GenericSchema, input: unknown): string[] {
  const result = v.safeParse(schema, input);
  return result.success ? [] : result.issues.map((issue) => issue.message);
}

describe("IdSchema", () => {
  test("accepts ordinary identifiers up to 128 characters", () => {
    for (const id of ["a", "evt_01HX-9:z/ä", "x".repeat(128), "😀"]) {
      expect(v.is(IdSchema, id)).toBe(true);
    }
  });

  const cases: [string, unknown, string[]][] = [
    ["empty", "", ["must not be empty"]],
    ["129 characters", "x".repeat(129), ["must be at most 128 characters"]],
    ["a space", "a b", ["must not contain whitespace or control characters"]],
    ["a newline", "a\nb", ["must not contain whitespace or control characters"]],
    ["a NUL", "a\u0000b", ["must not contain whitespace or control characters"]],
    ["DEL", "a\u007fb", ["must not contain whitespace or control characters"]],
    ["U+2028", "a\u2028b", ["must not contain whitespace or control characters"]],
    ["a zero-width space", "a\u200bb", ["must not contain whitespace or control characters"]],
    ["a bidi override", "a\u202eb", ["must not contain whitespace or control characters"]],
    ["a BOM", "\ufeffa", ["must not contain whitespace or control characters"]],
    ["a number", 1, ["must be a string"]],
    ["null", null, ["must be a string"]],
  ];
  for (const [what, input, expected] of cases) {
    test(`refuses ${what}`, () => {
      expect(messages(IdSchema, input)).toEqual(expected);
    });
  }
});

describe("PaymentSucceededSchema", () => {
  test("accepts the minimal event", () => {
    expect(v.parse(PaymentSucceededSchema, minimal)).toEqual(minimal);
  });

  test("accepts language and occurred_at, and strips unknown fields at both levels", () => {
    const output = v.parse(PaymentSucceededSchema, {
      ...minimal,
      occurred_at: "2024-05-01T12:00:00.123+02:00",
      amount: 4900,
      signature: "sig",
      metadata: { course_id: "c1", language: "pt-BR", coupon: "X" },
    });
    expect(output).toEqual({
      ...minimal,
      occurred_at: "2024-05-01T12:00:00.123+02:00",
      metadata: { course_id: "c1", language: "pt-BR" },
    });
    expect(Object.keys(output).sort()).toEqual([
      "event_type",
      "metadata",
      "occurred_at",
      "tenant_id",
      "trace_id",
      "user_id",
    ]);
  });

  for (const language of ["de", "en", "pt-BR", "zh-Hant-TW", "gsw"]) {
    test(`accepts language ${language}`, () => {
      const event = { ...minimal, metadata: { course_id: "c1", language } };
      expect(v.is(PaymentSucceededSchema, event)).toBe(true);
    });
  }

  for (const language of ["", "d", "german", "de_DE", "de-", "1e", "de-x"]) {
    test(`refuses language ${JSON.stringify(language)}`, () => {
      const event = { ...minimal, metadata: { course_id: "c1", language } };
      expect(messages(PaymentSucceededSchema, event)).toEqual([
        "must be a language tag like de, en or pt-BR",
      ]);
    });
  }

  for (const field of ["event_type", "trace_id", "tenant_id", "user_id"] as const) {
    test(`a missing ${field} is an issue at ${field}`, () => {
      const { [field]: _, ...rest } = minimal;
      const result = v.safeParse(PaymentSucceededSchema, rest);
      expect(result.success).toBe(false);
      expect(result.issues?.map((issue) => v.getDotPath(issue))).toEqual([field]);
    });
  }

  test("a missing course_id is an issue at metadata.course_id", () => {
    const result = v.safeParse(PaymentSucceededSchema, { ...minimal, metadata: {} });
    expect(result.issues?.map((issue) => v.getDotPath(issue))).toEqual(["metadata.course_id"]);
  });

  for (const metadata of ["{}", [], null, 1]) {
    test(`metadata ${JSON.stringify(metadata)} must be an object`, () => {
      expect(messages(PaymentSucceededSchema, { ...minimal, metadata })).toEqual([
        "must be an object",
      ]);
    });
  }

  for (const occurredAt of ["yesterday", "2024-05-01", "2024-05-01T12:00:00", 1714564800000]) {
    test(`refuses occurred_at ${JSON.stringify(occurredAt)}`, () => {
      const result = v.safeParse(PaymentSucceededSchema, { ...minimal, occurred_at: occurredAt });
      expect(result.issues?.map((issue) => v.getDotPath(issue))).toEqual(["occurred_at"]);
    });
  }

  test("another event_type is refused by the type's own schema", () => {
    expect(messages(PaymentSucceededSchema, { ...minimal, event_type: "x.y" })).toEqual([
      `must be "${PAYMENT_SUCCEEDED}"`,
    ]);
  });

  for (const envelope of [null, [], "event", 42]) {
    test(`the envelope ${JSON.stringify(envelope)} must be an object`, () => {
      expect(messages(PaymentSucceededSchema, envelope)).toEqual(["must be an object"]);
    });
  }
});

describe("PaycoreEnvelopeSchema", () => {
  test("accepts an unknown event type, keeping its metadata and dropping unknown fields", () => {
    const output = v.parse(PaycoreEnvelopeSchema, {
      ...minimal,
      event_type: "paycore.refund_issued",
      extra: true,
      metadata: { amount: 10, nested: { a: [1, 2] } },
    });
    expect(output).toEqual({
      ...minimal,
      event_type: "paycore.refund_issued",
      metadata: { amount: 10, nested: { a: [1, 2] } },
    });
  });

  test("still requires the envelope fields and an object metadata", () => {
    const result = v.safeParse(PaycoreEnvelopeSchema, {
      event_type: "x",
      trace_id: "",
      user_id: 7,
      metadata: [],
    });
    expect(result.issues?.map((issue) => [v.getDotPath(issue), issue.message])).toEqual([
      ["trace_id", "must not be empty"],
      ["tenant_id", expect.stringContaining("Invalid key")],
      ["user_id", "must be a string"],
      ["metadata", "must be an object"],
    ]);
  });

  test("metadata keys that name prototypes are dropped, not applied", () => {
    const metadata = JSON.parse('{"__proto__":{"polluted":1},"constructor":{"x":1},"ok":1}');
    const output = v.parse(PaycoreEnvelopeSchema, { ...minimal, event_type: "x", metadata });
    expect(output.metadata).toEqual({ ok: 1 });
    expect(Object.getPrototypeOf(output.metadata)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("eventSchemaFor", () => {
  test("payment_succeeded has its own schema, other types the envelope", () => {
    expect(eventSchemaFor(PAYMENT_SUCCEEDED)).toBe(PaymentSucceededSchema);
    for (const type of ["paycore.refund_issued", "constructor", "__proto__", "toString"]) {
      expect(eventSchemaFor(type)).toBe(PaycoreEnvelopeSchema);
    }
  });

  test("isPaymentSucceeded narrows by event_type", () => {
    const event = v.parse(PaymentSucceededSchema, minimal);
    expect(isPaymentSucceeded(event)).toBe(true);
    expect(isPaymentSucceeded({ ...event, event_type: "other" })).toBe(false);
  });
});
