import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { decodeEntry } from "../../src/contract/decode.ts";
import {
  EVENT_SCHEMAS,
  eventSchemaFor,
  isEventOf,
  isKnownEventType,
  PAYMENT_CHARGED_BACK,
  PAYMENT_REFUNDED,
  PAYMENT_SUCCEEDED,
  PaymentChargedBackSchema,
  PaymentRefundedSchema,
} from "../../src/contract/event-schema.ts";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { encodeFlatForm } from "../support/course-events.ts";

const refund: Record<string, unknown> & { metadata: Record<string, string> } = {
  event_type: PAYMENT_REFUNDED,
  trace_id: "evt_r1",
  tenant_id: "t1",
  user_id: "u1",
  metadata: { course_id: "c1", payment_trace_id: "evt_p1" },
};

const issues = (schema: v.GenericSchema, input: unknown): (string | null)[][] => {
  const result = v.safeParse(schema, input);
  return result.success ? [] : result.issues.map((i) => [v.getDotPath(i), i.message]);
};

describe("refund and chargeback schemas", () => {
  test("accept the envelope with metadata.course_id and payment_trace_id, dropping other keys", () => {
    expect(
      v.parse(PaymentRefundedSchema as v.GenericSchema, {
        ...refund,
        amount: 10,
        metadata: { ...refund.metadata, reason: "customer asked" },
      }),
    ).toEqual(refund);
    const chargeback = { ...refund, event_type: PAYMENT_CHARGED_BACK };
    expect(v.parse(PaymentChargedBackSchema as v.GenericSchema, chargeback)).toEqual(chargeback);
  });

  test("require both metadata ids, valid as any id", () => {
    expect(issues(PaymentRefundedSchema, { ...refund, metadata: { course_id: "c1" } })).toEqual([
      [
        "metadata.payment_trace_id",
        'Invalid key: Expected "payment_trace_id" but received undefined',
      ],
    ]);
    expect(
      issues(PaymentRefundedSchema, { ...refund, metadata: { ...refund.metadata, course_id: "" } }),
    ).toEqual([["metadata.course_id", "must not be empty"]]);
  });

  test("refuse a reversal whose payment_trace_id is its own trace_id", () => {
    const self = { ...refund, metadata: { ...refund.metadata, payment_trace_id: "evt_r1" } };
    expect(issues(PaymentRefundedSchema, self)).toEqual([
      [null, "metadata.payment_trace_id must not be the event's own trace_id"],
    ]);
  });

  test("each type has its own schema in the table; others get the envelope", () => {
    expect(Object.keys(EVENT_SCHEMAS).sort()).toEqual([
      PAYMENT_CHARGED_BACK,
      PAYMENT_REFUNDED,
      PAYMENT_SUCCEEDED,
    ]);
    expect(eventSchemaFor(PAYMENT_REFUNDED)).toBe(PaymentRefundedSchema);
    expect(eventSchemaFor(PAYMENT_CHARGED_BACK)).toBe(PaymentChargedBackSchema);
    expect(isKnownEventType("paycore.refund_issued")).toBe(false);
    expect(isKnownEventType("constructor")).toBe(false);
  });
});

describe("decoding a reversal", () => {
  test("both wire forms give the same event and payload hash; the types hash apart", () => {
    const data = decodeEntry(encodeDataForm(refund), { maxEventBytes: 65_536 });
    const flat = decodeEntry(encodeFlatForm(refund), { maxEventBytes: 65_536 });
    if (!data.ok || !flat.ok) throw new Error("expected both to decode");
    expect(flat.event).toEqual(data.event);
    expect(flat.payloadHash).toBe(data.payloadHash);
    expect(isEventOf(data.event, PAYMENT_REFUNDED)).toBe(true);
    const chargeback = decodeEntry(
      encodeDataForm({ ...refund, event_type: PAYMENT_CHARGED_BACK }),
      {
        maxEventBytes: 65_536,
      },
    );
    expect(chargeback.ok && chargeback.payloadHash).not.toBe(data.payloadHash);
  });

  test("a reversal without payment_trace_id is dead-lettered as invalid_event", () => {
    const decoded = decodeEntry(encodeDataForm({ ...refund, metadata: { course_id: "c1" } }), {
      maxEventBytes: 65_536,
    });
    expect(decoded).toMatchObject({
      ok: false,
      reason: "invalid_event",
      detail: "metadata.payment_trace_id: required",
      traceId: "evt_r1",
    });
  });
});
