import { parseArgs } from "node:util";
import * as v from "valibot";
import { loadConfig } from "../config/config.ts";
import {
  IdSchema,
  LanguageSchema,
  PAYMENT_CHARGED_BACK,
  PAYMENT_REFUNDED,
} from "../contract/event-schema.ts";
import { PaycoreSimulator, type ReversalEventType } from "../simulator/paycore-simulator.ts";
import { withCommandRedis } from "./command-connections.ts";
import { SIMULATE_LOAD_HELP, simulateLoadCommand } from "./simulate-load.ts";
import { UsageError } from "./usage-error.ts";

// main prints this for any `simulate … --help`, so it carries the load command's help too.
export const SIMULATE_HELP = `Usage: coursepay simulate payment-succeeded --tenant T --user U --course C
                          [--language de] [--trace-id ID]
       coursepay simulate payment-refunded --payment-trace-id P --tenant T --user U --course C
                          [--trace-id ID]
       coursepay simulate payment-charged-back --payment-trace-id P --tenant T --user U
                          --course C [--trace-id ID]

Publishes one simulated event to EVENT_STREAM on REDIS_URL (wire form "data", marked
"simulated": true) and prints its trace_id: a paycore.payment_succeeded, or a full reversal
(paycore.payment_refunded, paycore.payment_charged_back) of the payment whose trace_id is P,
which takes back the course that payment bought. T, U and C must be the payment's. It never
writes the database. Refused when APP_ENV=production.

${SIMULATE_LOAD_HELP}`;

export async function simulateCommand(args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  if (kind === "--help" || kind === "-h") {
    console.log(SIMULATE_HELP);
    return 0;
  }
  if (kind === "load") {
    if (rest.includes("--help") || rest.includes("-h")) {
      console.log(SIMULATE_LOAD_HELP);
      return 0;
    }
    return simulateLoadCommand(rest);
  }
  const reversal = kind === undefined ? undefined : REVERSALS[kind];
  if (kind !== "payment-succeeded" && reversal === undefined) {
    throw new UsageError(
      `simulate: unknown event "${kind ?? ""}"; expected "payment-succeeded", "payment-refunded", "payment-charged-back" or "load" (see --help)`,
    );
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      tenant: { type: "string" },
      user: { type: "string" },
      course: { type: "string" },
      language: { type: "string" },
      "payment-trace-id": { type: "string" },
      "trace-id": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(SIMULATE_HELP);
    return 0;
  }
  // Only payments carry a language; only reversals name a payment.
  if (reversal === undefined && values["payment-trace-id"] !== undefined) {
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
    traceId: optional("--trace-id", values["trace-id"], IdSchema),
  };
  const language = optional("--language", values.language, LanguageSchema);
  const paymentTraceId =
    reversal === undefined ? "" : required("--payment-trace-id", values["payment-trace-id"]);
  if (paymentTraceId === input.traceId) {
    throw new UsageError("simulate: --trace-id must differ from --payment-trace-id");
  }
  await withCommandRedis(config, "simulator", async (redis) => {
    const simulator = new PaycoreSimulator(redis, config.eventStream, config.signingSecrets[0]);
    const traceId =
      reversal === undefined
        ? await simulator.publishPaymentSucceeded({ ...input, language })
        : await simulator.publishReversal(reversal, { ...input, paymentTraceId });
    console.log(traceId);
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
