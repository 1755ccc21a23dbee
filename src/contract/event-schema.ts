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

export type EventSchema = typeof PaycoreEnvelopeSchema | typeof PaymentSucceededSchema;

/**
 * The schema that decides whether an event of this type is valid: the type's own schema when
 * there is one, the generic envelope otherwise (compared by equality, so names such as
 * `constructor` never reach a prototype lookup).
 */
export function eventSchemaFor(eventType: string): EventSchema {
  return eventType === PAYMENT_SUCCEEDED ? PaymentSucceededSchema : PaycoreEnvelopeSchema;
}

/** Narrows a decoded event (decoding used the type's own schema, so this check suffices). */
export function isPaymentSucceeded(
  event: PaycoreEnvelope | PaymentSucceededEvent,
): event is PaymentSucceededEvent {
  return event.event_type === PAYMENT_SUCCEEDED;
}
