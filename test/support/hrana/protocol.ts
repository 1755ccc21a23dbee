/**
 * The Hrana 2 JSON wire format (as @libsql/hrana-client 0.10 writes and reads it), its values,
 * batch conditions and errors, shaped after sqld's answers.
 */
import { SQLiteError } from "bun:sqlite";

export type Value =
  | { type: "null" }
  | { type: "integer"; value: string }
  | { type: "float"; value: number }
  | { type: "text"; value: string }
  | { type: "blob"; base64: string };

export interface Stmt {
  sql?: string | null;
  sql_id?: number | null;
  args?: Value[];
  named_args?: { name: string; value: Value }[];
  want_rows?: boolean | null;
}

export type BatchCond =
  | { type: "ok" | "error"; step: number }
  | { type: "not"; cond: BatchCond }
  | { type: "and" | "or"; conds: BatchCond[] }
  | { type: "is_autocommit" };

export interface Batch {
  steps: { condition?: BatchCond | null; stmt: Stmt }[];
}

export interface SqlRef {
  sql?: string | null;
  sql_id?: number | null;
}

export type StreamRequest =
  | { type: "close" }
  | { type: "execute"; stmt: Stmt }
  | { type: "batch"; batch: Batch }
  | ({ type: "sequence" } & SqlRef)
  | ({ type: "describe" } & SqlRef)
  | { type: "store_sql"; sql_id: number; sql: string }
  | { type: "close_sql"; sql_id: number }
  | { type: "get_autocommit" };

export interface Col {
  name: string | null;
  decltype: string | null;
}

export interface StmtResult {
  cols: Col[];
  rows: Value[][];
  affected_row_count: number;
  last_insert_rowid: string | null;
}

export interface BatchResult {
  step_results: (StmtResult | null)[];
  step_errors: (ErrorBody | null)[];
}

export interface DescribeResult {
  params: { name: string | null }[];
  cols: Col[];
  is_explain: boolean;
  is_readonly: boolean;
}

export type StreamResponse =
  | { type: "close" | "sequence" | "store_sql" | "close_sql" }
  | { type: "execute"; result: StmtResult }
  | { type: "batch"; result: BatchResult }
  | { type: "describe"; result: DescribeResult }
  | { type: "get_autocommit"; is_autocommit: boolean };

export interface ErrorBody {
  message: string;
  code?: string;
}

export type StreamResult =
  | { type: "ok"; response: StreamResponse }
  | { type: "error"; error: ErrorBody };

export interface PipelineRequest {
  baton?: string | null;
  requests: StreamRequest[];
}

/** A request the protocol does not allow: sqld answers HTTP 400 and drops the stream. */
export class ProtocolError extends Error {}

/** A statement or request that failed: an `error` result, the stream carries on. */
export class StmtError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }

  toBody(): ErrorBody {
    return { message: this.message, code: this.code };
  }
}

/**
 * sqld's wording, with SQLite's extended code name (bun:sqlite's `code`, e.g.
 * SQLITE_CONSTRAINT_PRIMARYKEY) as hrana-test-server sends it. sqld itself sends only the
 * primary code (SQLITE_CONSTRAINT); both start the same, so prefix checks hold on either.
 */
export function toStmtError(error: unknown): StmtError | undefined {
  if (error instanceof StmtError) return error;
  if (error instanceof SQLiteError) {
    return new StmtError(`SQLite error: ${error.message}`, error.code ?? "SQLITE_UNKNOWN");
  }
  return undefined;
}

export type SqlValue = null | bigint | number | string | Uint8Array;

export function decodeValue(value: Value): SqlValue {
  switch (value?.type) {
    case "null":
      return null;
    case "integer":
      if (!/^-?\d+$/.test(value.value)) throw new ProtocolError("Invalid integer value");
      return BigInt(value.value);
    case "float":
      if (typeof value.value !== "number") throw new ProtocolError("Invalid float value");
      return value.value;
    case "text":
      if (typeof value.value !== "string") throw new ProtocolError("Invalid text value");
      return value.value;
    case "blob":
      if (typeof value.base64 !== "string") throw new ProtocolError("Invalid blob value");
      return Buffer.from(value.base64, "base64");
    default:
      throw new ProtocolError("Value type not recognized");
  }
}

/** With `safeIntegers`, bun:sqlite returns INTEGER as bigint and REAL as number. */
export function encodeValue(value: unknown): Value {
  if (value === null) return { type: "null" };
  if (typeof value === "bigint") return { type: "integer", value: value.toString() };
  if (typeof value === "number") return { type: "float", value };
  if (typeof value === "string") return { type: "text", value };
  if (value instanceof Uint8Array) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return { type: "blob", base64: bytes.toString("base64") };
  }
  throw new Error(`SQLite returned a value of unexpected type ${typeof value}`);
}

/** Rejects conditions that look at the step itself or later ones, as sqld does. */
export function checkCond(cond: BatchCond, stepIndex: number): void {
  switch (cond?.type) {
    case "ok":
    case "error":
      if (!Number.isInteger(cond.step) || cond.step < 0 || cond.step >= stepIndex) {
        throw new ProtocolError("Invalid reference to step in a batch condition");
      }
      return;
    case "not":
      checkCond(cond.cond, stepIndex);
      return;
    case "and":
    case "or":
      for (const inner of cond.conds) checkCond(inner, stepIndex);
      return;
    case "is_autocommit":
      return;
    default:
      throw new ProtocolError("BatchCond type not recognized");
  }
}

export type StepOutcome = "ok" | "error" | "skipped";

/** `error` holds for a step that ran and failed, not for a skipped one (the spec's reading). */
export function evalCond(cond: BatchCond, outcomes: StepOutcome[], autocommit: boolean): boolean {
  switch (cond.type) {
    case "ok":
    case "error":
      return outcomes[cond.step] === cond.type;
    case "not":
      return !evalCond(cond.cond, outcomes, autocommit);
    case "and":
      return cond.conds.every((inner) => evalCond(inner, outcomes, autocommit));
    case "or":
      return cond.conds.some((inner) => evalCond(inner, outcomes, autocommit));
    case "is_autocommit":
      return autocommit;
  }
}
