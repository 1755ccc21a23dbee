import type { Tx } from "../db/database.ts";
import type {
  DispatchedEvent,
  HandleContext,
  HandleResult,
  Subscriber,
} from "../dispatch/subscriber.ts";
import type { Logger } from "../observe/logger.ts";
import { keyString } from "./course-key.ts";
import type { MonetizationService, PaymentBatchResult } from "./monetization-service.ts";
import {
  COURSE_PAYMENT_EVENT_TYPES,
  type CoursePaymentEvent,
  type CoursePaymentEventType,
  toPaymentFact,
} from "./payment-facts.ts";
import type { FactEffect, PaymentFact } from "./payment-rules.ts";

export const COURSE_PAYMENT_SUBSCRIBER = "course_payment_subscriber";

type Item = DispatchedEvent<CoursePaymentEvent>;

/**
 * Payments grant course access and refunds or chargebacks take it back, through
 * MonetizationService; one subscriber for the three types, so each batch writes each table once.
 */
export class CoursePaymentSubscriber implements Subscriber<CoursePaymentEventType> {
  readonly name = COURSE_PAYMENT_SUBSCRIBER;
  readonly eventTypes = COURSE_PAYMENT_EVENT_TYPES;

  constructor(
    private readonly monetization: MonetizationService,
    private readonly logger: Logger,
  ) {}

  readonly handle = async (
    events: readonly Item[],
    tx: Tx,
    context: HandleContext,
  ): Promise<HandleResult> => {
    const facts = events.map(({ event }) => toPaymentFact(event));
    const result = await this.monetization.applyPaymentFacts(facts, tx, context.now);
    const conflicts = new Map<DispatchedEvent, string>();
    const granted: Item[] = [];
    facts.forEach((fact, i) => {
      const item = events[i] as Item;
      const effect = result.effects[i] as FactEffect;
      if (effect.type === "conflict") conflicts.set(item, effect.detail);
      if (fact.kind === "paid" && result.paymentAfter(fact.traceId)?.state === "succeeded") {
        granted.push(item);
      }
      if (
        this.logger.isLevelEnabled("info") ||
        effect.type === "conflict" ||
        effect.type === "reversal_set_aside"
      ) {
        this.#logEffect(item, fact, effect, result);
      }
    });
    const revoked = this.#revocations(events, result);
    for (const fields of revoked)
      this.logger.info(fields, "[CoursePayment] Revoking course access");
    // Said only once the batch has committed: before that, nothing is granted or revoked yet.
    context.afterCommit(() => {
      if (!this.logger.isLevelEnabled("info")) return;
      for (const { event, entryId } of granted) {
        this.logger.info(
          this.#fields(event, entryId),
          "[CoursePayment] Course access granted successfully",
        );
      }
      for (const fields of revoked)
        this.logger.info(fields, "[CoursePayment] Course access revoked");
    });
    return { conflicts };
  };

  #logEffect(item: Item, fact: PaymentFact, effect: FactEffect, result: PaymentBatchResult) {
    const fields = this.#fields(item.event, item.entryId);
    switch (effect.type) {
      case "conflict":
        this.logger.error(
          { ...fields, detail: effect.detail },
          "[CoursePayment] Reversal does not match its payment: not applied (conflict)",
        );
        return;
      case "reversal_set_aside":
        this.logger.error(
          { ...fields, reversal_trace_id: effect.reversalTraceId, detail: effect.detail },
          "[CoursePayment] Reversal recorded before this payment does not match it; set aside",
        );
        break;
      case "reversed_before_payment":
        this.#unchanged(fields, "its payment has not arrived; it will not grant the course");
        return;
      case "already_reversed":
        this.#unchanged(fields, `the payment was already reversed by ${effect.reversalTraceId}`);
        return;
      case "reversed": {
        const status = result.statusAfterReversal.get(keyString(fact.key));
        if (status === "active") this.#unchanged(fields, "another payment still backs the course");
        return;
      }
    }
    if (fact.kind !== "paid") return;
    const row = result.paymentAfter(fact.traceId);
    if (row?.state === "succeeded") {
      this.logger.info(fields, "[CoursePayment] Granting course access");
    } else {
      this.logger.info(
        { ...fields, reversal_trace_id: row?.reversalTraceId },
        "[CoursePayment] Payment already reversed; course access not granted",
      );
    }
  }

  #unchanged(fields: Record<string, unknown>, reason: string): void {
    this.logger.info({ ...fields, reason }, "[CoursePayment] Payment reversed; access unchanged");
  }

  /** Log fields of each enrollment the batch revoked, with the payment and reversal trace_ids. */
  #revocations(events: readonly Item[], result: PaymentBatchResult) {
    if (result.revocations.length === 0) return [];
    const entryIds = new Map(events.map(({ event, entryId }) => [event.trace_id, entryId]));
    return result.revocations.map((revocation) => ({
      subscriber: this.name,
      tenant_id: revocation.tenantId,
      user_id: revocation.userId,
      course_id: revocation.courseId,
      payment_trace_id: revocation.paymentTraceId,
      reversal_trace_id: revocation.reversalTraceId,
      entry_id: entryIds.get(revocation.reversalTraceId),
    }));
  }

  #fields(event: CoursePaymentEvent, entryId: string): Record<string, unknown> {
    const fields: Record<string, unknown> = {
      subscriber: this.name,
      tenant_id: event.tenant_id,
      user_id: event.user_id,
      course_id: event.metadata.course_id,
      trace_id: event.trace_id,
      entry_id: entryId,
    };
    if ("payment_trace_id" in event.metadata) {
      fields.event_type = event.event_type;
      fields.payment_trace_id = event.metadata.payment_trace_id;
    }
    return fields;
  }
}
