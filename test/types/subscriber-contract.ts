/**
 * Compile-only: `bun run typecheck` checks this file (test/unit/subscriber-contract.test.ts
 * runs tsc on it too). Each `@ts-expect-error` marks a mismatch the subscriber contract must
 * refuse; if tsc ever accepted one, the directive itself would become the error.
 */
import {
  PAYMENT_CHARGED_BACK,
  PAYMENT_REFUNDED,
  PAYMENT_SUCCEEDED,
  type PaymentRefundedEvent,
  type PaymentSucceededEvent,
} from "../../src/contract/event-schema.ts";
import type { SubscriberRegistry } from "../../src/dispatch/registry.ts";
import {
  type DispatchedEvent,
  defineSubscriber,
  type Subscriber,
} from "../../src/dispatch/subscriber.ts";

type Payments = readonly DispatchedEvent<PaymentSucceededEvent>[];

export function refusedMismatches(registry: SubscriberRegistry): void {
  // A subscriber typed for payments cannot list refunds.
  const typedForPayments: Subscriber<typeof PAYMENT_SUCCEEDED> = {
    name: "payments",
    // @ts-expect-error paycore.payment_refunded is not a payment_succeeded
    eventTypes: [PAYMENT_REFUNDED],
    handle: async () => {},
  };

  // The event types come from eventTypes; a handler written for payments refuses refunds.
  defineSubscriber({
    name: "refunds_with_a_payment_handler",
    eventTypes: [PAYMENT_REFUNDED],
    // @ts-expect-error handle takes payments, the subscriber gets refunds
    handle: async (_events: Payments) => {},
  });

  // The same through the registry, the way buildRegistry registers subscribers.
  registry.register({
    name: "payments_registered_for_refunds",
    eventTypes: [PAYMENT_REFUNDED],
    // @ts-expect-error handle takes payments, the subscriber gets refunds
    handle: async (_events: Payments) => {},
  });

  // A class declaring its type: listing another type is refused.
  class PaymentsOnly implements Subscriber<typeof PAYMENT_SUCCEEDED> {
    readonly name = "payments_only";
    // @ts-expect-error a chargeback is not a payment_succeeded
    readonly eventTypes = [PAYMENT_CHARGED_BACK] as const;
    readonly handle = async (_events: Payments) => {};
  }

  // Only the event types of EVENT_SCHEMAS can be listed at all.
  defineSubscriber({
    name: "unknown_type",
    // @ts-expect-error no schema for paycore.refund_issued
    eventTypes: ["paycore.refund_issued"],
    handle: async () => {},
  });

  void typedForPayments;
  void PaymentsOnly;
}

export function acceptedContracts(registry: SubscriberRegistry): void {
  // A subscriber of two types receives the union of their events, narrowed by event_type.
  const both = defineSubscriber({
    name: "payments_and_refunds",
    eventTypes: [PAYMENT_SUCCEEDED, PAYMENT_REFUNDED],
    handle: async (events) => {
      for (const { event } of events) {
        if (event.event_type === PAYMENT_REFUNDED) {
          const refund: PaymentRefundedEvent = event;
          void refund.metadata.payment_trace_id;
        } else {
          const payment: PaymentSucceededEvent = event;
          void payment.metadata.language;
        }
      }
    },
  });
  registry.register(both);
}
