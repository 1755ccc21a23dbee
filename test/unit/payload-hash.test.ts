import { describe, expect, test } from "bun:test";
import { canonicalJson, payloadHash } from "../../src/contract/payload-hash.ts";

const event = {
  event_type: "paycore.payment_succeeded",
  tenant_id: "t1",
  user_id: "u1",
  metadata: { course_id: "c1", language: "de" },
};

describe("payloadHash", () => {
  test("is the hex SHA-256 of the canonical JSON of the four deciding fields", () => {
    const canonical =
      '{"event_type":"paycore.payment_succeeded","metadata":{"course_id":"c1","language":"de"},' +
      '"tenant_id":"t1","user_id":"u1"}';
    const expected = new Bun.CryptoHasher("sha256").update(canonical).digest("hex");
    expect(payloadHash(event)).toBe(expected);
    expect(payloadHash(event)).toMatch(/^[0-9a-f]{64}$/);
  });

  test("key order at any depth does not change it", () => {
    const reordered = {
      metadata: { language: "de", course_id: "c1" },
      user_id: "u1",
      tenant_id: "t1",
      event_type: "paycore.payment_succeeded",
    };
    expect(payloadHash(reordered)).toBe(payloadHash(event));
    const a = { ...event, metadata: { x: { b: 1, a: [{ d: 1, c: 2 }] } } };
    const b = { ...event, metadata: { x: { a: [{ c: 2, d: 1 }], b: 1 } } };
    expect(payloadHash(a)).toBe(payloadHash(b));
  });

  test("trace_id, occurred_at, unknown fields and undefined values do not change it", () => {
    const noisy = {
      ...event,
      trace_id: "evt_other",
      occurred_at: "2024-05-01T12:00:00Z",
      extra: 1,
      metadata: { ...event.metadata, gone: undefined },
    };
    expect(payloadHash(noisy)).toBe(payloadHash(event));
  });

  test("each deciding field changes it", () => {
    const base = payloadHash(event);
    expect(payloadHash({ ...event, metadata: { course_id: "c2", language: "de" } })).not.toBe(base);
    expect(payloadHash({ ...event, metadata: { course_id: "c1" } })).not.toBe(base);
    expect(payloadHash({ ...event, tenant_id: "t2" })).not.toBe(base);
    expect(payloadHash({ ...event, user_id: "u2" })).not.toBe(base);
    expect(payloadHash({ ...event, event_type: "other" })).not.toBe(base);
  });

  test("values are not confused across types or field boundaries", () => {
    const asNumber = payloadHash({ ...event, metadata: { n: 1 } });
    const asString = payloadHash({ ...event, metadata: { n: "1" } });
    expect(asNumber).not.toBe(asString);
    const shifted = payloadHash({ ...event, tenant_id: 't1","user_id":"u1', user_id: "" });
    expect(shifted).not.toBe(payloadHash(event));
  });
});

describe("canonicalJson", () => {
  test("sorts keys, drops undefined, writes arrays and scalars as JSON does", () => {
    expect(canonicalJson({ b: [1, undefined, "x", null, true], a: { d: undefined, c: 1.5 } })).toBe(
      '{"a":{"c":1.5},"b":[1,null,"x",null,true]}',
    );
    expect(canonicalJson({ n: Number.NaN, s: 'q"\n' })).toBe('{"n":null,"s":"q\\"\\n"}');
    expect(canonicalJson(undefined)).toBe("null");
  });
});
