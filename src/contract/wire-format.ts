/**
 * Wire formats of a stream entry. ioredis hands an entry over as a flat array
 * `[field1, value1, field2, value2, …]`. PayCore writes one of two forms:
 *
 * - data form: a field `data` holds the JSON envelope; other fields (e.g. `signature`) may sit
 *   beside it and are not part of the envelope.
 * - flat form: every top-level envelope key is its own field and `metadata` is a JSON string:
 *   `XADD brain.events.paycore '*' event_type paycore.payment_succeeded trace_id evt_1
 *   tenant_id t1 user_id u1 metadata '{"course_id":"c1"}'`.
 *
 * Nothing here validates the envelope; that is the schema's job (see decode.ts).
 */

export type WireForm = "data" | "flat";

export type EnvelopeResult =
  | { ok: true; envelope: unknown; form: WireForm; data?: string }
  | { ok: false; reason: "invalid_json"; detail: string };

/**
 * Turns `[field, value, …]` into a record with no prototype, so field names such as
 * `__proto__`, `constructor` or `prototype` are plain own properties and never reach a prototype.
 *
 * Redis lets XADD repeat a field name; the FIRST occurrence wins, later ones are ignored (the
 * same choice everywhere: decoding, hashing, dead letters). A trailing field without a value
 * (odd-length array, which Redis never sends) is ignored here; `decodeEntry` rejects such
 * entries before they get this far.
 */
export function fieldsToRecord(fields: readonly string[]): Record<string, string> {
  const record: Record<string, string> = Object.create(null);
  const end = fields.length - (fields.length % 2);
  for (let i = 0; i < end; i += 2) {
    const name = fields[i] as string;
    if (!Object.hasOwn(record, name)) record[name] = fields[i + 1] as string;
  }
  return record;
}

/**
 * Reads the envelope out of an entry, in the data form when a `data` field exists, else in the
 * flat form. Only JSON syntax is checked: a `data` value that parses to a non-object is passed
 * on for the schema to reject. Never throws.
 */
export function entryToEnvelope(fields: readonly string[]): EnvelopeResult {
  return recordToEnvelope(fieldsToRecord(fields));
}

/** `entryToEnvelope` for a record already built with `fieldsToRecord`. */
export function recordToEnvelope(record: Record<string, string>): EnvelopeResult {
  const data = record.data;
  if (data !== undefined) {
    const parsed = parseJson(data);
    if (!parsed.ok) return { ok: false, reason: "invalid_json", detail: `data: ${parsed.detail}` };
    return { ok: true, envelope: parsed.value, form: "data", data };
  }
  // JSON.parse creates own properties (a "__proto__" key stays an ordinary key), and the
  // envelope is only read by the schema, never merged into another object.
  const envelope: Record<string, unknown> = Object.create(null);
  for (const name in record) envelope[name] = record[name];
  const metadata = record.metadata;
  if (metadata !== undefined) {
    const parsed = parseJson(metadata);
    if (!parsed.ok) {
      return { ok: false, reason: "invalid_json", detail: `metadata: ${parsed.detail}` };
    }
    envelope.metadata = parsed.value;
  }
  return { ok: true, envelope, form: "flat" };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; detail: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, detail: error instanceof Error ? error.message : "not valid JSON" };
  }
}

/**
 * The data form of an envelope, as XADD arguments: `["data", json, ...extra]`. `extra` adds
 * fields beside `data` (e.g. a signature); it must not contain `data` itself.
 */
export function encodeDataForm(envelope: object, extra?: Record<string, string>): string[] {
  const fields = ["data", JSON.stringify(envelope)];
  if (extra !== undefined) {
    for (const [name, value] of Object.entries(extra)) {
      if (name === "data") throw new TypeError('encodeDataForm: extra must not contain "data"');
      fields.push(name, value);
    }
  }
  return fields;
}

/** Total UTF-8 byte length of all field names and values; cheap, computed before any parsing. */
export function entrySize(fields: readonly string[]): number {
  let bytes = 0;
  for (const item of fields) bytes += Buffer.byteLength(item, "utf8");
  return bytes;
}
