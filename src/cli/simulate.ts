import { parseArgs } from "node:util";
import * as v from "valibot";
import { loadConfig } from "../config/config.ts";
import { IdSchema, LanguageSchema } from "../contract/event-schema.ts";
import { PaycoreSimulator } from "../simulator/paycore-simulator.ts";
import { withCommandRedis } from "./command-connections.ts";
import { SIMULATE_LOAD_HELP, simulateLoadCommand } from "./simulate-load.ts";
import { UsageError } from "./usage-error.ts";

// main prints this for any `simulate … --help`, so it carries the load command's help too.
export const SIMULATE_HELP = `Usage: coursepay simulate payment-succeeded --tenant T --user U --course C
                          [--language de] [--trace-id ID]

Publishes one simulated paycore.payment_succeeded to EVENT_STREAM on REDIS_URL (wire form
"data", marked "simulated": true) and prints its trace_id. It never writes the database.
Refused when APP_ENV=production.

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
  if (kind !== "payment-succeeded") {
    throw new UsageError(
      `simulate: unknown event "${kind ?? ""}"; expected "payment-succeeded" or "load" (see --help)`,
    );
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      tenant: { type: "string" },
      user: { type: "string" },
      course: { type: "string" },
      language: { type: "string" },
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
  const config = loadConfig();
  if (config.appEnv === "production") {
    throw new UsageError("simulate is refused when APP_ENV=production");
  }
  const input = {
    tenantId: required("--tenant", values.tenant),
    userId: required("--user", values.user),
    courseId: required("--course", values.course),
    language: optional("--language", values.language, LanguageSchema),
    traceId: optional("--trace-id", values["trace-id"], IdSchema),
  };
  await withCommandRedis(config, "simulator", async (redis) => {
    const simulator = new PaycoreSimulator(redis, config.eventStream, config.signingSecrets[0]);
    console.log(await simulator.publishPaymentSucceeded(input));
  });
  return 0;
}

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
