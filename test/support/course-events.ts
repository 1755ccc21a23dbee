/**
 * Stream entries of the course module's events for tests: payments, refunds and chargebacks in
 * either wire form, and a Dispatcher over a fresh database with the application's registry.
 */
import { decodeEntry } from "../../src/contract/decode.ts";
import { PAYMENT_CHARGED_BACK, PAYMENT_REFUNDED } from "../../src/contract/event-schema.ts";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import type { Database } from "../../src/db/database.ts";
import { type BatchEntry, Dispatcher } from "../../src/dispatch/dispatcher.ts";
import { type Logger, silentLogger } from "../../src/observe/logger.ts";
import { buildRegistry, openStore } from "../../src/worker.ts";
import { type Payment, paymentEnvelope, testConfig } from "./worker-harness.ts";

export interface Reversal {
  trace_id: string;
  payment_trace_id: string;
  tenant_id?: string;
  user_id?: string;
  course_id?: string;
}

export type ReversalType = typeof PAYMENT_REFUNDED | typeof PAYMENT_CHARGED_BACK;

export function reversalEnvelope(
  reversal: Reversal,
  eventType: ReversalType = PAYMENT_REFUNDED,
): Record<string, unknown> {
  return {
    event_type: eventType,
    trace_id: reversal.trace_id,
    tenant_id: reversal.tenant_id ?? "test_tenant",
    user_id: reversal.user_id ?? "test_user",
    metadata: {
      course_id: reversal.course_id ?? "course_001",
      payment_trace_id: reversal.payment_trace_id,
    },
  };
}

export const refundEnvelope = (reversal: Reversal) => reversalEnvelope(reversal, PAYMENT_REFUNDED);
export const chargebackEnvelope = (reversal: Reversal) =>
  reversalEnvelope(reversal, PAYMENT_CHARGED_BACK);

/** The flat wire form: each top-level key a field, metadata as a JSON string. */
export function encodeFlatForm(envelope: Record<string, unknown>): string[] {
  return Object.entries(envelope).flatMap(([key, value]) => [
    key,
    typeof value === "string" ? value : JSON.stringify(value),
  ]);
}

let entryCounter = 0;

/** A decoded batch entry of an envelope, as the consumer would hand it to the dispatcher. */
export function batchEntry(envelope: Record<string, unknown>): BatchEntry {
  entryCounter += 1;
  const fields = encodeDataForm(envelope);
  return {
    id: `${entryCounter}-0`,
    fields,
    decoded: decodeEntry(fields, { maxEventBytes: 65_536 }),
  };
}

export const payment = (p: Payment) => batchEntry(paymentEnvelope(p));
export const refund = (r: Reversal) => batchEntry(refundEnvelope(r));
export const chargeback = (r: Reversal) => batchEntry(chargebackEnvelope(r));

/** The application's dispatcher (buildRegistry) on a fresh, migrated database file. */
export async function courseDispatcher(logger: Logger = silentLogger()) {
  const config = testConfig();
  const database: Database = await openStore(config, silentLogger());
  const dispatcher = new Dispatcher(buildRegistry(logger), database, logger);
  const one = async (sql: string, args: (string | number)[] = []) =>
    (await database.client.execute({ sql, args })).rows[0];
  return {
    database,
    dispatcher,
    /** Its DATABASE_URL, for commands run against it. */
    url: config.databaseUrl,
    /** The status of test_tenant/test_user's enrollment of `course`, undefined when none. */
    async status(course = "course_001", user = "test_user", tenant = "test_tenant") {
      const row = await one(
        "SELECT status FROM course_enrollments WHERE tenant_id = ? AND user_id = ? AND course_id = ?",
        [tenant, user, course],
      );
      return row?.status as string | undefined;
    },
    async enrollment(course = "course_001", user = "test_user", tenant = "test_tenant") {
      return one(
        "SELECT * FROM course_enrollments WHERE tenant_id = ? AND user_id = ? AND course_id = ?",
        [tenant, user, course],
      );
    },
    async paymentRow(traceId: string) {
      return one("SELECT * FROM course_payments WHERE trace_id = ?", [traceId]);
    },
    async processed(traceId: string) {
      return one(
        "SELECT * FROM processed_events WHERE subscriber_name = 'course_payment_subscriber' AND trace_id = ?",
        [traceId],
      );
    },
    /** One dispatch per entry, in order: one event a batch. */
    async oneByOne(entries: readonly BatchEntry[]) {
      const results = [];
      for (const entry of entries) results.push(...(await dispatcher.dispatch([entry])));
      return results;
    },
  };
}
