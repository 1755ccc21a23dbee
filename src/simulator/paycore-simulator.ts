import { loadConfig } from "../config/config.ts";
import {
  PAYMENT_CHARGED_BACK,
  PAYMENT_REFUNDED,
  PAYMENT_SUCCEEDED,
} from "../contract/event-schema.ts";
import { signData } from "../contract/signature.ts";
import type { RedisClient } from "../stream/redis-connection.ts";
import { createRedis } from "../stream/redis-connection.ts";

export interface PaymentSucceededInput {
  tenantId: string;
  userId: string;
  courseId: string;
  language?: string | undefined;
  /** Defaults to a new time-ordered `evt_…` id; pass one to replay a payment. */
  traceId?: string | undefined;
}

export interface ReversalInput {
  tenantId: string;
  userId: string;
  courseId: string;
  /** The trace_id of the payment_succeeded it reverses. */
  paymentTraceId: string;
  /** Defaults to a new time-ordered `evt_…` id. */
  traceId?: string | undefined;
}

export type ReversalEventType = typeof PAYMENT_REFUNDED | typeof PAYMENT_CHARGED_BACK;

export function newTraceId(): string {
  return `evt_${Bun.randomUUIDv7()}`;
}

/**
 * The embedded PayCore: publishes events the way PayCore does (wire form `data`), marked
 * `"simulated": true`. It only publishes; it never touches the database.
 */
export class PaycoreSimulator {
  constructor(
    private readonly redis: RedisClient,
    readonly stream: string,
    /** Signs like PayCore when set: the first PAYCORE_SIGNING_SECRET, the current key. */
    private readonly signingSecret?: string,
  ) {}

  /** Publishes one paycore.payment_succeeded and returns its trace_id. */
  async publishPaymentSucceeded(input: PaymentSucceededInput): Promise<string> {
    const metadata: Record<string, string> = { course_id: input.courseId };
    if (input.language !== undefined) metadata.language = input.language;
    return this.#publish(PAYMENT_SUCCEEDED, input, metadata);
  }

  /** Publishes one paycore.payment_refunded of `paymentTraceId`; returns its own trace_id. */
  publishPaymentRefunded(input: ReversalInput): Promise<string> {
    return this.publishReversal(PAYMENT_REFUNDED, input);
  }

  /** Publishes one paycore.payment_charged_back of `paymentTraceId`; returns its trace_id. */
  publishPaymentChargedBack(input: ReversalInput): Promise<string> {
    return this.publishReversal(PAYMENT_CHARGED_BACK, input);
  }

  publishReversal(eventType: ReversalEventType, input: ReversalInput): Promise<string> {
    return this.#publish(eventType, input, {
      course_id: input.courseId,
      payment_trace_id: input.paymentTraceId,
    });
  }

  async #publish(
    eventType: string,
    input: { tenantId: string; userId: string; traceId?: string | undefined },
    metadata: Record<string, string>,
  ): Promise<string> {
    const traceId = input.traceId ?? newTraceId();
    const envelope = {
      event_type: eventType,
      trace_id: traceId,
      tenant_id: input.tenantId,
      user_id: input.userId,
      metadata,
      occurred_at: new Date().toISOString(),
      simulated: true,
    };
    const data = JSON.stringify(envelope);
    const signature =
      this.signingSecret === undefined ? [] : ["signature", signData(data, this.signingSecret)];
    await this.redis.xadd(this.stream, "*", "data", data, ...signature);
    return traceId;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

let shared: PaycoreSimulator | undefined;

/** The process-wide simulator on the configured REDIS_URL and EVENT_STREAM. */
export function getPaycoreSimulator(): PaycoreSimulator {
  if (shared === undefined) {
    const config = loadConfig();
    const redis = createRedis(config, {
      connectionName: "coursepay-simulator",
      timeoutMs: config.redisTimeoutMs,
      maxRetriesPerRequest: 3,
    });
    // A failed publish rejects; without a listener ioredis would also print every error.
    redis.on("error", () => {});
    shared = new PaycoreSimulator(redis, config.eventStream, config.signingSecrets[0]);
  }
  return shared;
}
