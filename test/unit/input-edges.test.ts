/** Bad or unusual input that must neither be applied wrongly nor lost (issue: input edges). */
import { describe, expect, test } from "bun:test";
import { type DecodeResult, decodeEntry } from "../../src/contract/decode.ts";
import { PAYMENT_SUCCEEDED } from "../../src/contract/event-schema.ts";
import { payloadHash } from "../../src/contract/payload-hash.ts";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { escapeForTerminal } from "../../src/observe/terminal-text.ts";

const options = { maxEventBytes: 65536 };
const production = { ...options, rejectSimulated: true };

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

describe("actor_id stays unambiguous", () => {
  test("a ':' in tenant_id is an invalid_event naming the rule, in both wire forms", () => {
    const bad = { ...event, tenant_id: "acme:eu" };
    for (const fields of [encodeDataForm(bad), flat(bad)]) {
      expect(failure(decodeEntry(fields, options))).toMatchObject({
        reason: "invalid_event",
        detail: "tenant_id: must not contain ':' (actor_id is tenant_id:user_id)",
      });
    }
  });

  test("a ':' in user_id stays allowed: tenant_id alone is split off", () => {
    expect(decodeEntry(encodeDataForm({ ...event, user_id: "eu:bob" }), options).ok).toBe(true);
  });
});

describe("simulated events in production", () => {
  test("every spelling of true is refused, in the flat form and the data form", () => {
    for (const spelling of ["true", "TRUE", "1", "yes", "Yes", " true "]) {
      const marked = { ...event, simulated: spelling };
      expect(failure(decodeEntry(flat(marked), production)).reason).toBe("simulated");
      expect(failure(decodeEntry(encodeDataForm(marked), production)).reason).toBe("simulated");
    }
    for (const value of [true, 1]) {
      const marked = { ...event, simulated: value };
      expect(failure(decodeEntry(encodeDataForm(marked), production)).reason).toBe("simulated");
      expect(failure(decodeEntry(flat(marked), production)).reason).toBe("simulated");
    }
  });

  test("false spellings and a missing field are applied", () => {
    for (const spelling of ["false", "0", "no"]) {
      expect(decodeEntry(flat({ ...event, simulated: spelling }), production).ok).toBe(true);
    }
    expect(decodeEntry(flat(event), production).ok).toBe(true);
  });
});

describe("null in an optional field means absent", () => {
  test("language: null is applied without a language, with the hash of the event without it", () => {
    const withNull = { ...event, metadata: { course_id: "c1", language: null } };
    const result = decodeEntry(encodeDataForm(withNull), options);
    if (!result.ok) throw new Error(result.detail);
    expect(result.event.metadata).toEqual({ course_id: "c1", language: undefined });
    expect(result.payloadHash).toBe(payloadHash(event));
  });

  test("occurred_at: null too, in both wire forms", () => {
    const withNull = { ...event, occurred_at: null };
    expect(decodeEntry(encodeDataForm(withNull), options).ok).toBe(true);
    expect(
      decodeEntry(flat({ ...event, metadata: { course_id: "c1", language: null } }), options).ok,
    ).toBe(true);
  });

  test("required fields stay required: null is no course", () => {
    const noCourse = { ...event, metadata: { course_id: null } };
    expect(failure(decodeEntry(encodeDataForm(noCourse), options)).reason).toBe("invalid_event");
    expect(failure(decodeEntry(encodeDataForm({ ...event, user_id: null }), options)).reason).toBe(
      "invalid_event",
    );
  });
});

describe("event data never reaches a terminal raw", () => {
  test("control and format characters become visible escapes", () => {
    expect(escapeForTerminal("evt\u001b[31mX\nINFO forged\r\u009b2J\u202etxt")).toBe(
      "evt\\u001b[31mX\\u000aINFO forged\\u000d\\u009b2J\\u202etxt",
    );
    expect(escapeForTerminal("plain ünïcode 用户一")).toBe("plain ünïcode 用户一");
  });

  test("an invalid event's hints are escaped", () => {
    const bad = { event_type: "x\u001b[2J", trace_id: "evt\nforged", tenant_id: 5 };
    expect(failure(decodeEntry(encodeDataForm(bad), options))).toMatchObject({
      traceId: "evt\\u000aforged",
      eventType: "x\\u001b[2J",
    });
  });
});
