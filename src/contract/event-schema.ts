/**
 * The PayCore event contract: the generic envelope every event shares and the schemas of the
 * event types this worker acts on. Outputs hold only the known fields; unknown fields are
 * accepted and dropped, so a producer can add fields without breaking consumers.
 */
import * as v from "valibot";

/** Longest accepted identifier, in UTF-16 code units. */
export const MAX_ID_LENGTH = 128;

/**
 * No whitespace (which in JS regexes includes U+2028/U+2029 and U+FEFF), no control characters,
 * no format characters (zero-width and bidi marks) and no lone surrogates. `*`, not `+`, so an
 * empty string reports only "must not be empty".
 */
const ID_CHARACTERS = /^[^\s\p{Cc}\p{Cf}\p{Cs}]*$/u;

/** A BCP 47-like short language tag: `de`, `en`, `pt-BR`, `zh-Hant-TW`. */
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

const isPlainObject = (input: unknown): input is Record<string, unknown> =>
  typeof input === "object" && input !== null && !Array.isArray(input);

/** An object that is not an array and not null (valibot's `object` alone accepts arrays). */
const plainObject = v.custom<Record<string, unknown>>(isPlainObject, "must be an object");

/** Trace, tenant, user and course identifiers, and event type names. */
export const IdSchema = v.pipe(
  v.string("must be a string"),
  v.minLength(1, "must not be empty"),
  v.maxLength(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters`),
  v.regex(ID_CHARACTERS, "must not contain whitespace or control characters"),
);

/**
 * tenant_id is also the first half of `actor_id` (`tenant_id:user_id`), the key by which the
 * rest of the platform knows a learner: with a `:` in it, (`acme:eu`, `bob`) and (`acme`,
 * `eu:bob`) would be one learner.
 */
export const TenantIdSchema = v.pipe(
  IdSchema,
  v.check((id) => !id.includes(":"), "must not contain ':' (actor_id is tenant_id:user_id)"),
);

/**
 * An optional field that may also be sent as `null`, meaning absent: the output has no value
 * for it (undefined), so `null` and a missing key decide and hash alike.
 */
function nullable<T extends v.GenericSchema<unknown, string>>(schema: T) {
  return v.pipe(
    v.nullish(schema),
    v.transform((value) => value ?? undefined),
  );
}

/** ISO 8601 timestamp with a time zone, e.g. `2024-05-01T12:00:00.000Z`. */
export const TimestampSchema = v.pipe(
  v.string("must be a string"),
  v.isoTimestamp("must be an ISO 8601 timestamp with time zone, e.g. 2024-05-01T12:00:00Z"),
);

export const LanguageSchema = v.pipe(
  v.string("must be a string"),
  v.regex(LANGUAGE_TAG, "must be a language tag like de, en or pt-BR"),
);

const envelopeEntries = {
  event_type: IdSchema,
  trace_id: IdSchema,
  tenant_id: TenantIdSchema,
  user_id: IdSchema,
  occurred_at: v.optional(nullable(TimestampSchema)),
};

/**
 * Fields every PayCore event carries. `v.object` strips unknown top-level fields from the
 * output; `metadata` stays open (its own keys are kept, except `__proto__`, `constructor` and
 * `prototype`, which valibot drops).
 */
export const PaycoreEnvelopeSchema = v.pipe(
  plainObject,
  v.object({
    ...envelopeEntries,
    metadata: v.pipe(plainObject, v.looseObject({})),
  }),
);

export type PaycoreEnvelope = v.InferOutput<typeof PaycoreEnvelopeSchema>;

export const PAYMENT_SUCCEEDED = "paycore.payment_succeeded";
export const PAYMENT_REFUNDED = "paycore.payment_refunded";
export const PAYMENT_CHARGED_BACK = "paycore.payment_charged_back";

/** A payment went through: grant the course. Extra metadata keys are dropped. */
export const PaymentSucceededSchema = v.pipe(
  plainObject,
  v.object({
    ...envelopeEntries,
    event_type: v.literal(PAYMENT_SUCCEEDED, `must be "${PAYMENT_SUCCEEDED}"`),
    metadata: v.pipe(
      plainObject,
      v.object({ course_id: IdSchema, language: v.optional(nullable(LanguageSchema)) }),
    ),
  }),
);

export type PaymentSucceededEvent = v.InferOutput<typeof PaymentSucceededSchema>;

/**
 * A full reversal (refund or chargeback) of the payment whose trace_id is
 * `metadata.payment_trace_id`: it takes back the access that payment bought. Its own trace_id is
 * its idempotency key, and must not be the payment's.
 */
function reversalSchema<T extends typeof PAYMENT_REFUNDED | typeof PAYMENT_CHARGED_BACK>(type: T) {
  return v.pipe(
    plainObject,
    v.object({
      ...envelopeEntries,
      event_type: v.literal(type, `must be "${type}"`),
      metadata: v.pipe(plainObject, v.object({ course_id: IdSchema, payment_trace_id: IdSchema })),
    }),
    v.check(
      (event) => event.metadata.payment_trace_id !== event.trace_id,
      "metadata.payment_trace_id must not be the event's own trace_id",
    ),
  );
}

export const PaymentRefundedSchema = reversalSchema(PAYMENT_REFUNDED);
export const PaymentChargedBackSchema = reversalSchema(PAYMENT_CHARGED_BACK);

export type PaymentRefundedEvent = v.InferOutput<typeof PaymentRefundedSchema>;
export type PaymentChargedBackEvent = v.InferOutput<typeof PaymentChargedBackSchema>;

/**
 * THE table of event types this worker acts on → their schemas. Everything else is derived
 * from it: the event type names a subscriber may register for, the decoded-event union, the
 * schema lookup of decoding and the event type a subscriber's `handle` receives.
 */
export const EVENT_SCHEMAS = {
  [PAYMENT_SUCCEEDED]: PaymentSucceededSchema,
  [PAYMENT_REFUNDED]: PaymentRefundedSchema,
  [PAYMENT_CHARGED_BACK]: PaymentChargedBackSchema,
} as const;

/** An event type with a schema of its own: the only types a subscriber can register for. */
export type KnownEventType = keyof typeof EVENT_SCHEMAS;

/** The decoded event of a known type, e.g. `EventOf<"paycore.payment_refunded">`. */
export type EventOf<T extends KnownEventType> = v.InferOutput<(typeof EVENT_SCHEMAS)[T]>;

/** A decoded event of any known type, told apart by `event_type`. */
export type KnownEvent = { [T in KnownEventType]: EventOf<T> }[KnownEventType];

/** What decoding yields: a known event, or the generic envelope of any other type. */
export type DecodedEvent = KnownEvent | PaycoreEnvelope;

export type EventSchema = (typeof EVENT_SCHEMAS)[KnownEventType] | typeof PaycoreEnvelopeSchema;

/** Looked up in a Map, so names such as `constructor` never reach a prototype. */
const SCHEMA_BY_TYPE: ReadonlyMap<string, EventSchema> = new Map(Object.entries(EVENT_SCHEMAS));

/**
 * The schema that decides whether an event of this type is valid: the type's own schema when
 * the table has one, the generic envelope otherwise.
 */
export function eventSchemaFor(eventType: string): EventSchema {
  return SCHEMA_BY_TYPE.get(eventType) ?? PaycoreEnvelopeSchema;
}

/** True for the event types of the table. */
export function isKnownEventType(eventType: string): eventType is KnownEventType {
  return SCHEMA_BY_TYPE.has(eventType);
}

/**
 * Narrows a decoded event to a known type (decoding used the type's own schema, so comparing
 * `event_type` suffices).
 */
export function isEventOf<T extends KnownEventType>(
  event: DecodedEvent,
  eventType: T,
): event is EventOf<T> {
  return event.event_type === eventType;
}

/** Narrows a decoded event (decoding used the type's own schema, so this check suffices). */
export function isPaymentSucceeded(event: DecodedEvent): event is PaymentSucceededEvent {
  return isEventOf(event, PAYMENT_SUCCEEDED);
}
