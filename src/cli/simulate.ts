import * as v from "valibot";
import { loadConfig } from "../config/config.ts";
import {
  IdSchema,
  LanguageSchema,
  PAYMENT_CHARGED_BACK,
  PAYMENT_REFUNDED,
} from "../contract/event-schema.ts";
import {
  PaycoreSimulator,
  type ReversalEventType,
  UnconfirmedPublishError,
} from "../simulator/paycore-simulator.ts";
import { withCommandRedis } from "./command-connections.ts";
import { replicaWait } from "./replica-wait-option.ts";
import { UsageError } from "./usage-error.ts";

export interface SimulateOptions {
  tenant?: string | undefined;
  user?: string | undefined;
  course?: string | undefined;
  language?: string | undefined;
  paymentTraceId?: string | undefined;
  traceId?: string | undefined;
  waitReplicas?: string | undefined;
}

/** `simulate payment-succeeded|payment-refunded|payment-charged-back`: publishes one event. */
export async function simulateCommand(kind: string, values: SimulateOptions): Promise<number> {
  const reversal = REVERSALS[kind];
  if (kind !== "payment-succeeded" && reversal === undefined) {
    throw new UsageError(
      `simulate: unknown event "${kind}"; expected "payment-succeeded", "payment-refunded", "payment-charged-back" or "load" (see --help)`,
    );
  }
  // Only payments carry a language; only reversals name a payment.
  if (reversal === undefined && values.paymentTraceId !== undefined) {
    throw new UsageError(`simulate ${kind}: --payment-trace-id applies to reversals only`);
  }
  if (reversal !== undefined && values.language !== undefined) {
    throw new UsageError(`simulate ${kind}: --language applies to payment-succeeded only`);
  }
  const config = loadConfig();
  if (config.appEnv === "production") {
    throw new UsageError("simulate is refused when APP_ENV=production");
  }
  const input = {
    tenantId: required("--tenant", values.tenant),
    userId: required("--user", values.user),
    courseId: required("--course", values.course),
    traceId: optional("--trace-id", values.traceId, IdSchema),
  };
  const language = optional("--language", values.language, LanguageSchema);
  const paymentTraceId =
    reversal === undefined ? "" : required("--payment-trace-id", values.paymentTraceId);
  if (paymentTraceId === input.traceId) {
    throw new UsageError("simulate: --trace-id must differ from --payment-trace-id");
  }
  const wait = replicaWait(values.waitReplicas, config.redisTimeoutMs);
  await withCommandRedis(config, "simulator", async (redis) => {
    const simulator = new PaycoreSimulator(
      redis,
      config.eventStream,
      config.signingSecrets[0],
      wait,
    );
    try {
      const traceId =
        reversal === undefined
          ? await simulator.publishPaymentSucceeded({ ...input, language })
          : await simulator.publishReversal(reversal, { ...input, paymentTraceId });
      console.log(traceId);
    } catch (error) {
      // On the stream all the same: its trace_id is printed, then why it is not confirmed (exit 1).
      if (error instanceof UnconfirmedPublishError) console.log(error.traceId);
      throw error;
    }
  });
  return 0;
}

const REVERSALS: Partial<Record<string, ReversalEventType>> = {
  "payment-refunded": PAYMENT_REFUNDED,
  "payment-charged-back": PAYMENT_CHARGED_BACK,
};

function required(flag: string, value: string | undefined): string {
  if (value === undefined) throw new UsageError(`simulate: ${flag} is required (see --help)`);
  return check(flag, value, IdSchema);
}

function optional(
  flag: string,
  value: string | undefined,
  schema: v.GenericSchema<string, string>,
): string | undefined {
  return value === undefined ? undefined : check(flag, value, schema);
}

function check(flag: string, value: string, schema: v.GenericSchema<string, string>): string {
  const result = v.safeParse(schema, value);
  if (!result.success) {
    throw new UsageError(`simulate: ${flag} ${result.issues.map((i) => i.message).join("; ")}`);
  }
  return result.output;
}
