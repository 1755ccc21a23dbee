import { existsSync } from "node:fs";
import * as v from "valibot";
import { loadConfig } from "../config/config.ts";
import { redactUrl } from "../config/redact.ts";
import { IdSchema } from "../contract/event-schema.ts";
import {
  type EnrollmentFilter,
  type EnrollmentView,
  findEnrollments,
} from "../course/enrollment-queries.ts";
import { openDatabase } from "../db/database.ts";
import { databaseUnreachable } from "./command-connections.ts";
import { textTable } from "./text-table.ts";
import { UsageError } from "./usage-error.ts";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;

export interface EnrollmentsOptions {
  tenant?: string | undefined;
  user?: string | undefined;
  course?: string | undefined;
  limit?: string | undefined;
  json?: boolean | undefined;
}

export async function enrollmentsCommand(values: EnrollmentsOptions): Promise<number> {
  if (values.tenant === undefined) {
    throw new UsageError("enrollments: --tenant is required (see --help)");
  }
  const filter: EnrollmentFilter = {
    tenantId: id("--tenant", values.tenant),
    userId: values.user === undefined ? undefined : id("--user", values.user),
    courseId: values.course === undefined ? undefined : id("--course", values.course),
    limit: parseLimit(values.limit),
  };
  const config = loadConfig();
  const where = config.databaseFilePath ?? redactUrl(config.databaseUrl);
  // Opening a missing file would create an empty database and answer "no enrollments".
  if (config.databaseFilePath !== undefined && !existsSync(config.databaseFilePath)) {
    throw new Error(`no database at ${config.databaseFilePath} (DATABASE_URL)`);
  }
  const database = await openDatabase({
    url: config.databaseUrl,
    authToken: config.databaseAuthToken,
    filePath: config.databaseFilePath,
    busyTimeoutMs: config.databaseBusyTimeoutMs,
    requestTimeoutMs: config.databaseTimeoutMs,
  });
  try {
    const page = await findEnrollments(database.db, filter).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (/no such table/i.test(`${message} ${(error as { cause?: Error }).cause?.message}`)) {
        throw new Error(`the database at ${where} has no enrollments table: run coursepay migrate`);
      }
      throw databaseUnreachable(config, error);
    });
    if (values.json) {
      console.log(JSON.stringify(page.enrollments.map(toJson), null, 2));
      return 0;
    }
    if (page.enrollments.length === 0) {
      console.log(`No enrollments for ${describe(filter)} in ${where}.`);
      console.log(
        "If a payment was published, look for its trace_id in the dead letters (coursepay dlq list).",
      );
      return 0;
    }
    console.log(formatTable(page.enrollments));
    const hint =
      page.total <= MAX_LIMIT
        ? `--limit ${page.total} shows them all`
        : "narrow it with --user or --course";
    const more =
      page.total > page.enrollments.length
        ? `, the newest ${page.enrollments.length} shown; ${hint}`
        : "";
    const noun = page.total === 1 ? "enrollment" : "enrollments";
    console.log(`\n${page.total} ${noun} for ${describe(filter)}${more}.`);
    return 0;
  } finally {
    database.close();
  }
}

function id(flag: string, value: string): string {
  const result = v.safeParse(IdSchema, value);
  if (!result.success) {
    throw new UsageError(`enrollments: ${flag} ${result.issues.map((i) => i.message).join("; ")}`);
  }
  return result.output;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIMIT;
  const limit = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(limit >= 1 && limit <= MAX_LIMIT)) {
    throw new UsageError(
      `enrollments: --limit expects a whole number from 1 to ${MAX_LIMIT}, got ${JSON.stringify(text)}`,
    );
  }
  return limit;
}

function describe(filter: EnrollmentFilter): string {
  const parts = [`tenant ${filter.tenantId}`];
  if (filter.userId !== undefined) parts.push(`user ${filter.userId}`);
  if (filter.courseId !== undefined) parts.push(`course ${filter.courseId}`);
  return parts.join(", ");
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Every field, with the table's own column names and times as ISO 8601. */
function toJson(enrollment: EnrollmentView): Record<string, unknown> {
  return {
    tenant_id: enrollment.tenantId,
    user_id: enrollment.userId,
    actor_id: enrollment.actorId,
    course_id: enrollment.courseId,
    status: enrollment.status,
    language: enrollment.language,
    granted_at: iso(enrollment.grantedAt),
    revoked_at: enrollment.revokedAt === null ? null : iso(enrollment.revokedAt),
    revoked_by_trace_id: enrollment.revokedByTraceId,
    trace_id: enrollment.traceId,
    processed: enrollment.processing !== null,
    processed_outcome: enrollment.processing?.outcome ?? null,
    processed_at: enrollment.processing ? iso(enrollment.processing.processedAt) : null,
    stream_entry_id: enrollment.processing?.streamEntryId ?? null,
    payments: enrollment.payments.map((payment) => ({
      trace_id: payment.traceId,
      state: payment.state,
      paid_at: payment.paidAt === null ? null : iso(payment.paidAt),
      reversal_trace_id: payment.reversalTraceId,
      reversed_at: payment.reversedAt === null ? null : iso(payment.reversedAt),
    })),
  };
}

function formatTable(rows: readonly EnrollmentView[]): string {
  const header = ["USER", "COURSE", "STATUS", "LANGUAGE", "GRANTED_AT", "TRACE_ID", "PROCESSED"];
  const cells = rows.map((row) => [
    row.userId,
    row.courseId,
    row.status,
    row.language ?? "-",
    iso(row.grantedAt),
    row.traceId,
    row.processing === null ? "no" : "yes",
  ]);
  const payments = rows.flatMap((row) =>
    row.payments.map((payment) => [
      row.userId,
      row.courseId,
      payment.traceId,
      payment.state,
      payment.paidAt === null ? "-" : iso(payment.paidAt),
      payment.reversalTraceId ?? "-",
      payment.reversedAt === null ? "-" : iso(payment.reversedAt),
    ]),
  );
  const enrollments = textTable(header, cells);
  if (payments.length === 0) return enrollments;
  const paymentHeader = [
    "USER",
    "COURSE",
    "PAYMENT",
    "STATE",
    "PAID_AT",
    "REVERSED_BY",
    "REVERSED_AT",
  ];
  return `${enrollments}\n\nPayments of these courses:\n${textTable(paymentHeader, payments)}`;
}
