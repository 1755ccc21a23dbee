import { loadConfig } from "../config/config.ts";
import {
  PAYMENT_CHARGED_BACK,
  PAYMENT_REFUNDED,
  PAYMENT_SUCCEEDED,
} from "../contract/event-schema.ts";
import { signData } from "../contract/signature.ts";
import type { RedisClient } from "../stream/redis-connection.ts";
import { createRedis } from "../stream/redis-connection.ts";
import type { ReplicaWait } from "./confirmed-send.ts";

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

/** Published, but fewer replicas than asked confirmed it in time (`--wait-replicas`). */
export class UnconfirmedPublishError extends Error {
  override readonly name = "UnconfirmedPublishError";
  constructor(
    readonly traceId: string,
    readonly replicas: number,
    readonly wanted: ReplicaWait,
  ) {
    super(
      `${traceId} was published, but ${replicas} of ${wanted.replicas} replicas confirmed it within ${wanted.timeoutMs} ms (WAIT): a failover now could lose it`,
    );
  }
}

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
    /**
     * WAIT for this many replicas after each XADD, in the same round trip (in a cluster: on the
     * stream's node); fewer in time is an UnconfirmedPublishError.
     */
    private readonly wait?: ReplicaWait,
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
    if (this.wait === undefined) {
      await this.redis.xadd(this.stream, "*", "data", data, ...signature);
      return traceId;
    }
    const replies = await this.redis
      .pipeline()
      .xadd(this.stream, "*", "data", data, ...signature)
      .wait(this.wait.replicas, this.wait.timeoutMs)
      .exec();
    const failure = replies?.find(([error]) => error !== null)?.[0];
    if (failure) throw failure;
    const replicas = Number(replies?.[1]?.[1] ?? 0);
    if (replicas < this.wait.replicas)
      throw new UnconfirmedPublishError(traceId, replicas, this.wait);
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
