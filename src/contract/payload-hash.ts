/**
 * Hash of the fields that decide an event's effect, so a redelivered trace_id can be told apart
 * from a different event reusing it. Wire form, key order, trace_id, occurred_at and unknown
 * fields do not change it.
 */

export interface HashedFields {
  event_type: string;
  tenant_id: string;
  user_id: string;
  metadata: Record<string, unknown>;
}

/**
 * Hex SHA-256 of the canonical JSON of exactly `{event_type, metadata, tenant_id, user_id}`:
 * keys sorted recursively (UTF-16 code unit order), no whitespace, `undefined` values dropped,
 * as JSON.stringify would render the rest. Meant for JSON-shaped data (what decoding produces).
 */
export function payloadHash(event: HashedFields): string {
  // Top-level keys written in sorted order by hand: no array, no sort, no intermediate object.
  const canonical =
    '{"event_type":' +
    JSON.stringify(event.event_type) +
    ',"metadata":' +
    canonicalJson(event.metadata) +
    ',"tenant_id":' +
    JSON.stringify(event.tenant_id) +
    ',"user_id":' +
    JSON.stringify(event.user_id) +
    "}";
  return Bun.CryptoHasher.hash("sha256", canonical, "hex");
}

/** JSON with object keys sorted at every depth; `undefined` stands for "leave out". */
export function canonicalJson(value: unknown): string {
  return write(value) ?? "null";
}

function write(value: unknown): string | undefined {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "object":
      break;
    default:
      // undefined, functions and symbols are left out, as in JSON.stringify.
      return undefined;
  }
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ",";
      out += write(value[i]) ?? "null";
    }
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const item = write(object[key]);
    if (item === undefined) continue;
    out += `${first ? "" : ","}${JSON.stringify(key)}:${item}`;
    first = false;
  }
  return `${out}}`;
}
