import { PAYMENT_SUCCEEDED, type PaymentSucceededEvent } from "../contract/event-schema.ts";
import type { Tx } from "../db/database.ts";
import type { DispatchedEvent, HandleContext, Subscriber } from "../dispatch/subscriber.ts";
import type { Logger } from "../observe/logger.ts";
import type { MonetizationService } from "./monetization-service.ts";

export const COURSE_PAYMENT_SUBSCRIBER = "course_payment_subscriber";

/** paycore.payment_succeeded → course access, through MonetizationService. */
export class CoursePaymentSubscriber implements Subscriber<PaymentSucceededEvent> {
  readonly name = COURSE_PAYMENT_SUBSCRIBER;
  readonly eventTypes = [PAYMENT_SUCCEEDED];

  constructor(
    private readonly monetization: MonetizationService,
    private readonly logger: Logger,
  ) {}

  async handle(
    events: readonly DispatchedEvent<PaymentSucceededEvent>[],
    tx: Tx,
    context: HandleContext,
  ): Promise<void> {
    const grants = events.map(({ event }) => ({
      tenantId: event.tenant_id,
      userId: event.user_id,
      courseId: event.metadata.course_id,
      language: event.metadata.language,
      traceId: event.trace_id,
    }));
    for (const { event, entryId } of events) {
      this.logger.info(this.#fields(event, entryId), "[CoursePayment] Granting course access");
    }
    await this.monetization.grantCourseAccess(grants, tx, context.now);
    // Said only once the batch has committed: before that, nothing is granted yet.
    context.afterCommit(() => {
      for (const { event, entryId } of events) {
        this.logger.info(
          this.#fields(event, entryId),
          "[CoursePayment] Course access granted successfully",
        );
      }
    });
  }

  #fields(event: PaymentSucceededEvent, entryId: string) {
    return {
      subscriber: this.name,
      tenant_id: event.tenant_id,
      user_id: event.user_id,
      course_id: event.metadata.course_id,
      trace_id: event.trace_id,
      entry_id: entryId,
    };
  }
}
