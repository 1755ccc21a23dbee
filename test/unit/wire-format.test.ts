import { describe, expect, test } from "bun:test";
import {
  encodeDataForm,
  entrySize,
  entryToEnvelope,
  fieldsToRecord,
} from "../../src/contract/wire-format.ts";
import { README_FLAT_ENTRY } from "../support/wire-examples.ts";

describe("fieldsToRecord", () => {
  test("pairs names with values", () => {
    expect({ ...fieldsToRecord(["a", "1", "b", "2"]) }).toEqual({ a: "1", b: "2" });
  });

  test("prototype-named fields become own data properties and change no prototype", () => {
    const record = fieldsToRecord([
      "__proto__",
      '{"polluted":1}',
      "constructor",
      "c",
      "prototype",
      "p",
      "toString",
      "t",
    ]);
    expect(Object.getPrototypeOf(record)).toBeNull();
    expect(Object.keys(record)).toEqual(["__proto__", "constructor", "prototype", "toString"]);
    expect(Object.getOwnPropertyDescriptor(record, "__proto__")).toMatchObject({
      value: '{"polluted":1}',
      writable: true,
      enumerable: true,
    });
    expect(Object.entries(record)).toEqual([
      ["__proto__", '{"polluted":1}'],
      ["constructor", "c"],
      ["prototype", "p"],
      ["toString", "t"],
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.toString).toBeInstanceOf(Function);
  });

  test("a field missing from the entry is absent, not inherited", () => {
    const record = fieldsToRecord(["a", "1"]);
    expect(record.constructor).toBeUndefined();
    expect(record.toString).toBeUndefined();
  });

  test("with a repeated field name the first occurrence wins", () => {
    expect({ ...fieldsToRecord(["data", "first", "x", "1", "data", "second"]) }).toEqual({
      data: "first",
      x: "1",
    });
  });

  test("a trailing name without a value is ignored", () => {
    expect({ ...fieldsToRecord(["a", "1", "orphan"]) }).toEqual({ a: "1" });
    expect({ ...fieldsToRecord([]) }).toEqual({});
  });
});

describe("entryToEnvelope", () => {
  const envelope = {
    event_type: "paycore.payment_succeeded",
    trace_id: "evt_1",
    tenant_id: "t1",
    user_id: "u1",
    metadata: { course_id: "c1" },
  };

  test("the data form parses the data field and keeps the raw text", () => {
    const data = JSON.stringify(envelope);
    expect(entryToEnvelope(["data", data, "signature", "sig"])).toEqual({
      ok: true,
      envelope,
      form: "data",
      data,
    });
  });

  test("the data form passes a JSON non-object on for the schema to judge", () => {
    expect(entryToEnvelope(["data", "[1,2]"])).toEqual({
      ok: true,
      envelope: [1, 2],
      form: "data",
      data: "[1,2]",
    });
  });

  test("the flat form parses metadata and keeps the other fields as strings", () => {
    const result = entryToEnvelope([...README_FLAT_ENTRY]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.form).toBe("flat");
    expect(result.data).toBeUndefined();
    expect({ ...(result.envelope as object) }).toEqual(envelope);
  });

  test("the flat form without metadata leaves it for the schema to report", () => {
    const result = entryToEnvelope(["trace_id", "evt_1"]);
    expect(result.ok && { ...(result.envelope as object) }).toEqual({ trace_id: "evt_1" });
  });

  test("invalid JSON in data names data and gives the parser's message", () => {
    const result = entryToEnvelope(["data", "{not json"]);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toBe("invalid_json");
    expect(result.detail).toStartWith("data: ");
    expect(result.detail.length).toBeGreaterThan("data: ".length);
  });

  test("invalid JSON in flat metadata names metadata", () => {
    const result = entryToEnvelope(["trace_id", "evt_1", "metadata", "{'course_id':1}"]);
    expect(result).toMatchObject({ ok: false, reason: "invalid_json" });
    expect(!result.ok && result.detail).toStartWith("metadata: ");
  });

  test("a __proto__ key in the JSON pollutes nothing", () => {
    const data = entryToEnvelope(["data", '{"__proto__":{"polluted":1},"a":1}']);
    const flat = entryToEnvelope(["metadata", '{"__proto__":{"polluted":1}}', "__proto__", "x"]);
    for (const result of [data, flat]) {
      expect(result.ok).toBe(true);
      if (!result.ok) continue;
      const value = result.envelope as Record<string, unknown>;
      expect(value.polluted).toBeUndefined();
    }
    const flatEnvelope = (flat as { envelope: Record<string, unknown> }).envelope;
    const metadata = flatEnvelope.metadata as Record<string, unknown>;
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    expect(metadata.polluted).toBeUndefined();
    expect(Object.getPrototypeOf(flatEnvelope)).toBeNull();
    expect(Object.getOwnPropertyDescriptor(flatEnvelope, "__proto__")?.value).toBe("x");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("encodeDataForm", () => {
  test("puts the JSON envelope in data, extra fields after it", () => {
    expect(encodeDataForm({ a: 1 }, { signature: "sig", v: "1" })).toEqual([
      "data",
      '{"a":1}',
      "signature",
      "sig",
      "v",
      "1",
    ]);
    expect(encodeDataForm({ a: 1 })).toEqual(["data", '{"a":1}']);
  });

  test("round-trips through entryToEnvelope", () => {
    const envelope = { trace_id: "evt_1", metadata: { course_id: "c1" } };
    expect(entryToEnvelope(encodeDataForm(envelope, { signature: "s" }))).toMatchObject({
      ok: true,
      envelope,
      form: "data",
    });
  });

  test("refuses a second data field", () => {
    expect(() => encodeDataForm({}, { data: "x" })).toThrow(TypeError);
  });
});

describe("entrySize", () => {
  test("counts UTF-8 bytes of names and values", () => {
    expect(entrySize([])).toBe(0);
    expect(entrySize(["ab", "cde"])).toBe(5);
    expect(entrySize(["ä", "😀"])).toBe(2 + 4);
  });
});
