import { describe, expect, test } from "bun:test";
import { DEAD_LETTER_REASONS, type DecodeResult, decodeEntry } from "../../src/contract/decode.ts";
import { PAYMENT_SUCCEEDED } from "../../src/contract/event-schema.ts";
import { payloadHash } from "../../src/contract/payload-hash.ts";
import { encodeDataForm } from "../../src/contract/wire-format.ts";

const options = { maxEventBytes: 65536 };

const event = {
  event_type: PAYMENT_SUCCEEDED,
  trace_id: "evt_1",
  tenant_id: "t1",
  user_id: "u1",
  metadata: { course_id: "c1" },
};

function flat(envelope: Record<string, unknown>): string[] {
  return Object.entries(envelope).flatMap(([name, value]) => [
    name,
    typeof value === "string" ? value : JSON.stringify(value),
  ]);
}

function failure(result: DecodeResult) {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result)}`);
  return result;
}

describe("decodeEntry", () => {
  test("decodes the data form", () => {
    const fields = encodeDataForm(event, { signature: "sig" });
    expect(decodeEntry(fields, options)).toEqual({
      ok: true,
      event,
      payloadHash: payloadHash(event),
      form: "data",
      data: fields[1] as string,
    });
  });

  test("decodes the flat form", () => {
    expect(decodeEntry(flat(event), options)).toEqual({
      ok: true,
      event,
      payloadHash: payloadHash(event),
      form: "flat",
    });
  });

  test("both wire forms give equal events and equal hashes, whatever the key order", () => {
    const full = {
      ...event,
      occurred_at: "2024-05-01T12:00:00Z",
      metadata: { language: "de", course_id: "c1" },
    };
    const reordered = {
      metadata: { course_id: "c1", language: "de" },
      user_id: "u1",
      occurred_at: "2024-05-01T12:00:00Z",
      trace_id: "evt_1",
      tenant_id: "t1",
      event_type: PAYMENT_SUCCEEDED,
    };
    const results = [
      decodeEntry(encodeDataForm(full), options),
      decodeEntry(flat(full), options),
      decodeEntry(encodeDataForm(reordered), options),
      decodeEntry(flat(reordered), options),
    ];
    const first = results[0];
    if (!first?.ok) throw new Error("expected the data form to decode");
    for (const result of results) {
      expect(result.ok).toBe(true);
      if (!result.ok) continue;
      expect(result.event).toEqual(first.event);
      expect(result.payloadHash).toBe(first.payloadHash);
    }
  });

  test("unknown fields are stripped and do not change the hash", () => {
    const noisy = { ...event, amount: 4900, metadata: { course_id: "c1", coupon: "X" } };
    const result = decodeEntry(encodeDataForm(noisy), options);
    expect(result).toMatchObject({ ok: true, event, payloadHash: payloadHash(event) });
  });

  test("a different course gives a different hash", () => {
    const a = decodeEntry(encodeDataForm(event), options);
    const b = decodeEntry(encodeDataForm({ ...event, metadata: { course_id: "c2" } }), options);
    expect(a.ok && b.ok && a.payloadHash !== b.payloadHash).toBe(true);
  });

  test("an unknown event type is decoded with the generic envelope, metadata kept", () => {
    const other = { ...event, event_type: "paycore.refund_issued", metadata: { amount: 5 } };
    expect(decodeEntry(flat(other), options)).toMatchObject({ ok: true, event: other });
  });

  describe("too large", () => {
    test("an entry over the limit is refused before parsing", () => {
      const fields = ["data", "{ this is not even json"];
      const size = 4 + 23;
      expect(decodeEntry(fields, { maxEventBytes: size - 1 })).toEqual({
        ok: false,
        reason: "too_large",
        detail: `entry is ${size} bytes, the limit is ${size - 1}`,
      });
      expect(failure(decodeEntry(fields, { maxEventBytes: size })).reason).toBe("invalid_json");
    });

    test("the limit counts UTF-8 bytes, not characters", () => {
      const fields = encodeDataForm({ ...event, metadata: { course_id: "ä".repeat(100) } });
      const chars = fields.join("").length;
      expect(failure(decodeEntry(fields, { maxEventBytes: chars })).reason).toBe("too_large");
    });
  });

  describe("invalid JSON", () => {
    test("in the data field", () => {
      const result = failure(decodeEntry(["data", '{"trace_id":"evt_1",'], options));
      expect(result.reason).toBe("invalid_json");
      expect(result.detail).toStartWith("data: ");
      expect(result.traceId).toBeUndefined();
    });

    test("in flat metadata, keeping the readable trace_id and event_type", () => {
      const fields = flat({ ...event, metadata: "{course_id: c1}" });
      const result = failure(decodeEntry(fields, options));
      expect(result).toMatchObject({
        reason: "invalid_json",
        traceId: "evt_1",
        eventType: PAYMENT_SUCCEEDED,
      });
      expect(result.detail).toStartWith("metadata: ");
    });
  });

  describe("invalid event", () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ["an empty tenant_id", { ...event, tenant_id: "" }, "tenant_id: must not be empty"],
      [
        "a 129-character user_id",
        { ...event, user_id: "u".repeat(129) },
        "user_id: must be at most 128 characters",
      ],
      [
        "a trace_id with a space",
        { ...event, trace_id: "evt 1" },
        "trace_id: must not contain whitespace or control characters",
      ],
      [
        "a trace_id with a newline",
        { ...event, trace_id: "evt\n1" },
        "trace_id: must not contain whitespace or control characters",
      ],
      [
        "a user_id with NUL",
        { ...event, user_id: "u\u00001" },
        "user_id: must not contain whitespace or control characters",
      ],
      ["a numeric tenant_id", { ...event, tenant_id: 7 }, "tenant_id: must be a string"],
      ["metadata as a string", { ...event, metadata: "c1" }, "metadata: must be an object"],
      ["metadata as an array", { ...event, metadata: ["c1"] }, "metadata: must be an object"],
      ["metadata null", { ...event, metadata: null }, "metadata: must be an object"],
      ["no course_id", { ...event, metadata: {} }, "metadata.course_id: required"],
      ["a bad occurred_at", { ...event, occurred_at: "yesterday" }, "occurred_at: must be an ISO"],
      [
        "a bad language",
        { ...event, metadata: { course_id: "c1", language: "german!" } },
        "metadata.language: must be a language tag like de, en or pt-BR",
      ],
    ];
    for (const [what, envelope, detail] of cases) {
      test(`${what} (data form)`, () => {
        const result = failure(decodeEntry(encodeDataForm(envelope), options));
        expect(result.reason).toBe("invalid_event");
        expect(result.detail).toStartWith(detail);
      });
    }

    for (const field of ["event_type", "trace_id", "tenant_id", "user_id", "metadata"]) {
      test(`a missing ${field} is required, in both forms`, () => {
        const { [field]: _, ...rest } = event as Record<string, unknown>;
        for (const fields of [encodeDataForm(rest), flat(rest)]) {
          expect(failure(decodeEntry(fields, options)).detail).toBe(`${field}: required`);
        }
      });
    }

    test("every failed rule is listed with its path", () => {
      const result = failure(
        decodeEntry(encodeDataForm({ ...event, tenant_id: "", metadata: {} }), options),
      );
      expect(result).toEqual({
        ok: false,
        reason: "invalid_event",
        detail: "tenant_id: must not be empty; metadata.course_id: required",
        traceId: "evt_1",
        eventType: PAYMENT_SUCCEEDED,
      });
    });

    test("an envelope that is not an object", () => {
      for (const data of ["[]", "null", '"x"', "42"]) {
        expect(failure(decodeEntry(["data", data], options))).toEqual({
          ok: false,
          reason: "invalid_event",
          detail: "event: must be an object",
        });
      }
    });

    test("a non-string trace_id is not copied into the result", () => {
      const result = failure(decodeEntry(encodeDataForm({ ...event, trace_id: 5 }), options));
      expect(result.traceId).toBeUndefined();
      expect(result.eventType).toBe(PAYMENT_SUCCEEDED);
    });

    test("an odd number of items is malformed", () => {
      const result = failure(decodeEntry([...flat(event), "orphan"], options));
      expect(result.reason).toBe("invalid_event");
      expect(result.detail).toContain('"orphan" has no value');
    });

    test("an entry that is not an array of strings", () => {
      for (const fields of [null, "data", [1, 2], ["data", null], {}]) {
        expect(failure(decodeEntry(fields as unknown as string[], options))).toEqual({
          ok: false,
          reason: "invalid_event",
          detail: "entry must be an array of strings",
        });
      }
    });
  });

  test("__proto__ in the JSON pollutes nothing and is not part of the event", () => {
    const data = JSON.stringify(event).replace("{", '{"__proto__":{"polluted":1},');
    const result = decodeEntry(["data", data, "__proto__", "x", "constructor", "y"], options);
    expect(result).toMatchObject({ ok: true, event });
    const fields = flat({ ...event, metadata: '{"__proto__":{"polluted":1},"course_id":"c1"}' });
    expect(decodeEntry(fields, options)).toMatchObject({ ok: true, event });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("never throws, whatever the input", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const atoms = [
      "data",
      "metadata",
      "event_type",
      "trace_id",
      "tenant_id",
      "user_id",
      "occurred_at",
      "__proto__",
      "constructor",
      PAYMENT_SUCCEEDED,
      "",
      "{",
      "}",
      "[",
      "]",
      ":",
      ",",
      '"',
      "null",
      "1e999",
      "\u0000",
      "\ud800",
      "😀",
      '{"course_id":"c1"}',
      JSON.stringify(event),
    ];
    const text = () => Array.from({ length: Math.floor(random() * 6) }, () => pick(atoms)).join("");
    const reasons = new Set<string>(DEAD_LETTER_REASONS);
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const fields = Array.from({ length: Math.floor(random() * 12) }, text);
      const result = decodeEntry(fields, { maxEventBytes: 200 });
      seen.add(result.ok ? "ok" : result.reason);
      if (!result.ok) {
        expect(reasons.has(result.reason)).toBe(true);
        expect(result.detail.startsWith("could not decode")).toBe(false);
      }
    }
    const value = (depth: number): unknown => {
      const kind = Math.floor(random() * (depth > 2 ? 4 : 6));
      if (kind === 0) return text();
      if (kind === 1) return random() * 1e6 - 5e5;
      if (kind === 2) return null;
      if (kind === 3) return pick([true, false, "c1", "evt_1", "de", PAYMENT_SUCCEEDED]);
      if (kind === 4)
        return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
      return object(depth + 1);
    };
    const object = (depth: number): Record<string, unknown> => {
      const out: Record<string, unknown> = { ...event };
      for (let k = Math.floor(random() * 4); k > 0; k--) {
        Object.defineProperty(out, pick([...atoms, "course_id", "language"]), {
          value: value(depth),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    };
    for (let i = 0; i < 500; i++) {
      const envelope = object(0);
      for (const fields of [encodeDataForm(envelope), flat(envelope)]) {
        const result = decodeEntry(fields, options);
        seen.add(result.ok ? "ok" : result.reason);
        // The safety net in decodeEntry is never what answers.
        expect(!result.ok && result.detail.startsWith("could not decode")).toBe(false);
      }
    }
    expect([...seen].sort()).toEqual(["invalid_event", "invalid_json", "ok", "too_large"]);
  });
});

test("DEAD_LETTER_REASONS is the fixed list", () => {
  expect(DEAD_LETTER_REASONS).toEqual([
    "invalid_json",
    "invalid_event",
    "too_large",
    "conflict",
    "unauthenticated",
    "max_deliveries",
    "permanent_error",
    "simulated",
  ]);
});
