/** The course module's events, and what each says about a payment. */
import {
  type DecodedEvent,
  type EventOf,
  isEventOf,
  PAYMENT_CHARGED_BACK,
  PAYMENT_REFUNDED,
  PAYMENT_SUCCEEDED,
} from "../contract/event-schema.ts";
import type { PaymentFact, ReversalState } from "./payment-rules.ts";

/** The event types the course module handles: a payment and its two full reversals. */
export const COURSE_PAYMENT_EVENT_TYPES = [
  PAYMENT_SUCCEEDED,
  PAYMENT_REFUNDED,
  PAYMENT_CHARGED_BACK,
] as const;

export type CoursePaymentEventType = (typeof COURSE_PAYMENT_EVENT_TYPES)[number];
export type CoursePaymentEvent = EventOf<CoursePaymentEventType>;

const REVERSAL_STATES: Record<
  Exclude<CoursePaymentEventType, typeof PAYMENT_SUCCEEDED>,
  ReversalState
> = {
  [PAYMENT_REFUNDED]: "refunded",
  [PAYMENT_CHARGED_BACK]: "charged_back",
};

const COURSE_TYPES: ReadonlySet<string> = new Set(COURSE_PAYMENT_EVENT_TYPES);

/** True for a payment, a refund or a chargeback (decoded by its own schema). */
export function isCoursePaymentEvent(event: DecodedEvent): event is CoursePaymentEvent {
  return COURSE_TYPES.has(event.event_type);
}

export function toPaymentFact(event: CoursePaymentEvent): PaymentFact {
  const key = {
    tenantId: event.tenant_id,
    userId: event.user_id,
    courseId: event.metadata.course_id,
  };
  if (isEventOf(event, PAYMENT_SUCCEEDED)) {
    return {
      kind: "paid",
      traceId: event.trace_id,
      key,
      language: event.metadata.language ?? null,
    };
  }
  return {
    kind: "reversed",
    traceId: event.trace_id,
    paymentTraceId: event.metadata.payment_trace_id,
    key,
    state: REVERSAL_STATES[event.event_type],
  };
}
