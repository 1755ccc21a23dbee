/**
 * Stream entry → validated event. Never throws and never trusts the input: size limit first
 * (nothing parsed), then JSON, then the event type's valibot schema. A failure is a value with a
 * dead-letter reason and a detail naming each broken rule.
 */
import { isUtf8 } from "node:buffer";
import * as v from "valibot";
import { escapeForTerminal } from "../observe/terminal-text.ts";
import { isTruthy } from "./boolean-words.ts";
import { type DecodedEvent, eventSchemaFor, PaycoreEnvelopeSchema } from "./event-schema.ts";
import { payloadHash } from "./payload-hash.ts";
import { verifySignature } from "./signature.ts";
import { entrySize, fieldsToRecord, recordToEnvelope, type WireForm } from "./wire-format.ts";

/** Why an entry went to the dead-letter stream; one fixed list everywhere. */
export const DEAD_LETTER_REASONS = [
  "invalid_json",
  "invalid_event",
  "too_large",
  "conflict",
  "unauthenticated",
  "max_deliveries",
  "permanent_error",
  "simulated",
] as const;

export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export type DecodeFailureReason = Extract<
  DeadLetterReason,
  "too_large" | "invalid_json" | "invalid_event" | "unauthenticated" | "simulated"
>;

export type DecodeResult =
  | {
      ok: true;
      /** Decoded by its type's own schema when EVENT_SCHEMAS has one (narrow with isEventOf). */
      event: DecodedEvent;
      payloadHash: string;
      form: WireForm;
      /** The raw `data` field, in the data form. */
      data?: string;
    }
  | {
      ok: false;
      reason: DecodeFailureReason;
      detail: string;
      /** Read from the raw envelope when it is a string there, for logging the failure. */
      traceId?: string;
      eventType?: string;
    };

export interface DecodeOptions {
  /** Entries whose names and values together exceed this many UTF-8 bytes are not parsed. */
  maxEventBytes: number;
  /**
   * When not empty, an entry must carry `signature`: hex HMAC-SHA256 of its exact `data` string
   * under one of these secrets. Checked before any JSON is parsed.
   */
  signingSecrets?: readonly string[];
  /** Refuse events marked `"simulated": true` (APP_ENV=production). */
  rejectSimulated?: boolean;
}

/** Longest trace id or event type copied from a rejected entry into the result. */
const MAX_HINT_LENGTH = 256;

/**
 * `bytes`: the entry's fields exactly as they arrived, when the strings may not be (the Redis
 * client replaces bytes that are not UTF-8 with U+FFFD; see `mayHaveLostBytes`). The signature
 * is then checked over those bytes, and bytes that are not UTF-8 reject the entry.
 */
export function decodeEntry(
  fields: readonly string[],
  options: DecodeOptions,
  bytes?: readonly Uint8Array[],
): DecodeResult {
  try {
    return decode(fields, options, bytes);
  } catch (error) {
    // Unreachable by design; the guard keeps the promise "never throws" for any input.
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: "invalid_event", detail: `could not decode entry: ${message}` };
  }
}

/** An entry over MAX_EVENT_BYTES: never parsed. */
export function tooLarge(bytes: number, maxEventBytes: number): DecodeResult {
  return {
    ok: false,
    reason: "too_large",
    detail: `entry is ${bytes} bytes, the limit is ${maxEventBytes}`,
  };
}

/**
 * True when a field holds U+FFFD, the character the Redis client puts where bytes were not
 * UTF-8: the entry must be read again as bytes to know what arrived. One scan per field, cheap.
 */
export function mayHaveLostBytes(fields: readonly string[]): boolean {
  for (const field of fields) if (field.includes("\uFFFD")) return true;
  return false;
}

function decode(
  fields: readonly string[],
  options: DecodeOptions,
  bytes: readonly Uint8Array[] | undefined,
): DecodeResult {
  if (!Array.isArray(fields) || !fields.every((item) => typeof item === "string")) {
    return { ok: false, reason: "invalid_event", detail: "entry must be an array of strings" };
  }
  const size = entrySize(fields);
  if (size > options.maxEventBytes) return tooLarge(size, options.maxEventBytes);
  if (fields.length % 2 !== 0) {
    return {
      ok: false,
      reason: "invalid_event",
      detail: `entry has ${fields.length} items: field ${JSON.stringify(fields.at(-1))} has no value`,
    };
  }

  const record = fieldsToRecord(fields);
  const secrets = options.signingSecrets ?? [];
  if (secrets.length > 0) {
    const problem = signatureProblem(record, secrets, bytes && rawField(fields, bytes, "data"));
    if (problem !== undefined) return { ok: false, reason: "unauthenticated", detail: problem };
  }
  const notUtf8 = bytes === undefined ? undefined : firstNotUtf8(fields, bytes);
  if (notUtf8 !== undefined) return notUtf8;
  const read = recordToEnvelope(record);
  if (!read.ok) {
    // Only the flat form has readable fields left when its metadata is not JSON.
    return { ...read, ...hints(record.data === undefined ? record : undefined) };
  }

  const raw = read.envelope;
  const eventType = isObject(raw) ? raw.event_type : undefined;
  const schema = typeof eventType === "string" ? eventSchemaFor(eventType) : PaycoreEnvelopeSchema;
  const parsed = v.safeParse(schema, raw);
  if (!parsed.success) {
    return {
      ok: false,
      reason: "invalid_event",
      detail: formatIssues(parsed.issues),
      ...hints(raw),
    };
  }
  // The flat form carries every field as a string: `simulated true`, `yes`, `1` count too.
  if (options.rejectSimulated === true && isObject(raw) && isTruthy(raw.simulated)) {
    return {
      ok: false,
      reason: "simulated",
      detail: "a simulated event is never applied when APP_ENV=production",
      ...hints(raw),
    };
  }
  const event = parsed.output;
  const result: DecodeResult = {
    ok: true,
    event,
    payloadHash: payloadHash(event),
    form: read.form,
  };
  if (read.data !== undefined) result.data = read.data;
  return result;
}

function signatureProblem(
  record: Record<string, string>,
  secrets: readonly string[],
  dataBytes: Uint8Array | undefined,
): string | undefined {
  if (record.data === undefined) {
    return "signing is on (PAYCORE_SIGNING_SECRET) and a flat-form entry has no data field to sign";
  }
  if (record.signature === undefined) return "signature missing";
  // Over the bytes as they arrived when they are known: the string may have lost some.
  if (!verifySignature(dataBytes ?? record.data, record.signature, secrets)) {
    return "signature does not match any signing secret";
  }
  return undefined;
}

/**
 * `path: message` for each issue, joined with `; `, e.g.
 * `tenant_id: must not be empty; metadata.course_id: required`. A missing key says `required`;
 * an issue about the whole envelope is reported as `event`.
 */
export function formatIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues.map((issue) => `${issuePath(issue)}: ${issueMessage(issue)}`).join("; ");
}

function issuePath(issue: v.BaseIssue<unknown>): string {
  if (issue.path === undefined || issue.path.length === 0) return "event";
  return issue.path.map((item) => String(item.key)).join(".");
}

function issueMessage(issue: v.BaseIssue<unknown>): string {
  // valibot v1 reports a missing key as an object issue expecting the key name, e.g. `"c"`.
  const isObjectIssue = issue.type === "object" || issue.type === "loose_object";
  if (issue.kind === "schema" && isObjectIssue && issue.expected?.startsWith('"')) {
    return "required";
  }
  return issue.message;
}

/** The bytes of the first field named `name` (as fieldsToRecord picks it). */
function rawField(
  fields: readonly string[],
  bytes: readonly Uint8Array[],
  name: string,
): Uint8Array | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return bytes[i + 1];
  return undefined;
}

/** The dead-letter decision for the first name or value whose bytes are not UTF-8. */
function firstNotUtf8(
  fields: readonly string[],
  bytes: readonly Uint8Array[],
): DecodeResult | undefined {
  for (let i = 0; i < bytes.length; i++) {
    const field = bytes[i] as Uint8Array;
    if (isUtf8(field)) continue;
    const at = `not valid UTF-8 (${field.length} bytes; kept exactly in the dead letter)`;
    if (i % 2 === 0)
      return { ok: false, reason: "invalid_event", detail: `field name ${i / 2 + 1} is ${at}` };
    const name = escapeForTerminal(fields[i - 1] ?? "");
    return name === "data"
      ? { ok: false, reason: "invalid_json", detail: `data is ${at}` }
      : { ok: false, reason: "invalid_event", detail: `field ${name} is ${at}` };
  }
  return undefined;
}

function hints(raw: unknown): { traceId?: string; eventType?: string } {
  const out: { traceId?: string; eventType?: string } = {};
  if (!isObject(raw)) return out;
  const { trace_id: traceId, event_type: eventType } = raw;
  // Hints are for people (logs, dlq list): escaped, since the event was not validated.
  if (typeof traceId === "string")
    out.traceId = escapeForTerminal(traceId.slice(0, MAX_HINT_LENGTH));
  if (typeof eventType === "string") {
    out.eventType = escapeForTerminal(eventType.slice(0, MAX_HINT_LENGTH));
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
