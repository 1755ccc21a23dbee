/**
 * One Hrana stream: a bun:sqlite connection of its own on the server's database file, so an
 * interactive transaction spans HTTP requests and streams lock each other like sqld's
 * connections do.
 */
import { Database, SQLiteError, type SQLQueryBindings, type Statement } from "bun:sqlite";
import {
  type Batch,
  type BatchResult,
  checkCond,
  type DescribeResult,
  decodeValue,
  encodeValue,
  evalCond,
  ProtocolError,
  type SqlRef,
  type SqlValue,
  type StepOutcome,
  type Stmt,
  StmtError,
  type StmtResult,
  type StreamRequest,
  type StreamResponse,
  type StreamResult,
  toStmtError,
} from "./protocol.ts";
import { type StatementInfo, splitStatements, statementInfo } from "./sql-text.ts";

/** sqld's limits on stored SQL texts (the client's SQL cache stays below them). */
const MAX_STORED_SQLS = 50;
const MAX_STORED_SQL_BYTES = 5000;
/** How often a statement that met a lock tries again while it waits. */
const BUSY_POLL_MS = 10;

interface Query {
  sql: string;
  info: StatementInfo;
  args: SqlValue[];
  namedArgs: Record<string, SqlValue> | undefined;
  wantRows: boolean;
}

type AnyStatement = Statement<unknown, SQLQueryBindings[]>;

function isBusy(error: unknown): boolean {
  // A stale snapshot does not get better by waiting; SQLite's busy handler is not called for it.
  const code = error instanceof SQLiteError ? error.code : undefined;
  return code?.startsWith("SQLITE_BUSY") === true && code !== "SQLITE_BUSY_SNAPSHOT";
}

export class HranaStream {
  readonly #db: Database;
  readonly #busyTimeoutMs: number;
  readonly #sqls = new Map<number, string>();
  #closed = false;
  /** The open transaction was begun READONLY: `query_only` stays on until it ends. */
  #readonlyTxn = false;
  /**
   * Statements run since BEGIN. SQLite's busy handler waits for a lock only while the
   * transaction has not read yet; once it has, a conflicting write fails at once.
   */
  #statementsInTxn = 0;

  constructor(dbPath: string, busyTimeoutMs: number) {
    this.#db = new Database(dbPath, { safeIntegers: true, strict: true });
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closing the connection rolls back a transaction left open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close(false);
  }

  /**
   * One request of a pipeline. Throws ProtocolError (or an unexpected error) when the whole
   * HTTP request has to fail.
   */
  async handle(request: StreamRequest): Promise<StreamResult> {
    if (request.type === "close") {
      this.close();
      return { type: "ok", response: { type: "close" } };
    }
    if (this.#closed) throw new ProtocolError("Stream for this baton was closed");
    try {
      return { type: "ok", response: await this.#respond(request) };
    } catch (error) {
      const stmtError = toStmtError(error);
      if (stmtError === undefined) throw error;
      return { type: "error", error: stmtError.toBody() };
    }
  }

  async #respond(request: Exclude<StreamRequest, { type: "close" }>): Promise<StreamResponse> {
    switch (request.type) {
      case "execute":
        return { type: "execute", result: await this.#execute(this.#query(request.stmt)) };
      case "batch":
        return { type: "batch", result: await this.#batch(request.batch) };
      case "sequence":
        for (const sql of splitStatements(this.#sqlText(request))) {
          await this.#execute(sequenceStep(sql));
        }
        return { type: "sequence" };
      case "describe":
        return { type: "describe", result: this.#describe(this.#sqlText(request)) };
      case "store_sql":
        this.#storeSql(request.sql_id, request.sql);
        return { type: "store_sql" };
      case "close_sql":
        this.#sqls.delete(request.sql_id);
        return { type: "close_sql" };
      case "get_autocommit":
        return { type: "get_autocommit", is_autocommit: !this.#db.inTransaction };
      default:
        throw new ProtocolError("StreamRequest type not recognized");
    }
  }

  #sqlText(ref: SqlRef): string {
    const { sql, sql_id: sqlId } = ref;
    if (sql != null && sqlId != null) {
      throw new ProtocolError("Either `sql` or `sql_id` are required, but not both");
    }
    if (typeof sql === "string") return sql;
    if (sqlId == null) throw new ProtocolError("Either `sql` or `sql_id` are required");
    const stored = this.#sqls.get(sqlId);
    if (stored === undefined) throw new ProtocolError(`SQL text ${sqlId} not found`);
    return stored;
  }

  #storeSql(sqlId: number, sql: string): void {
    if (typeof sql !== "string") throw new ProtocolError("store_sql needs a `sql` string");
    if (this.#sqls.has(sqlId)) throw new ProtocolError(`SQL text ${sqlId} already exists`);
    if (this.#sqls.size >= MAX_STORED_SQLS) {
      throw new StmtError(
        `The server already stores ${this.#sqls.size} SQL texts, it cannot store more`,
        "SQL_STORE_TOO_MANY",
      );
    }
    const bytes = Buffer.byteLength(sql);
    if (bytes > MAX_STORED_SQL_BYTES) {
      throw new StmtError(
        `The statement is too large to be stored: ${bytes}/${MAX_STORED_SQL_BYTES} B`,
        "SQL_STORE_TOO_LARGE",
      );
    }
    this.#sqls.set(sqlId, sql);
  }

  /** Checks a statement the way sqld does before running anything. */
  #query(stmt: Stmt): Query {
    const sql = this.#sqlText(stmt);
    const args = (stmt.args ?? []).map(decodeValue);
    const named = stmt.named_args ?? [];
    if (args.length > 0 && named.length > 0) {
      throw new StmtError(
        "Specifying both positional and named arguments is not supported",
        "ARGS_BOTH_POSITIONAL_AND_NAMED",
      );
    }
    const statements = splitStatements(sql).length;
    if (statements === 0) {
      throw new StmtError("SQL string does not contain any statement", "SQL_NO_STATEMENT");
    }
    if (statements > 1) {
      throw new StmtError("SQL string contains more than one statement", "SQL_MANY_STATEMENTS");
    }
    const namedArgs =
      named.length === 0
        ? undefined
        : Object.fromEntries(named.map(({ name, value }) => [name, decodeValue(value)]));
    return { sql, info: statementInfo(sql), args, namedArgs, wantRows: stmt.want_rows ?? true };
  }

  async #batch(batch: Batch): Promise<BatchResult> {
    // Like sqld, a bad step fails the whole batch before any step runs.
    const steps = batch.steps.map((step, index) => {
      if (step.condition != null) checkCond(step.condition, index);
      return { query: this.#query(step.stmt), condition: step.condition ?? undefined };
    });
    const outcomes: StepOutcome[] = [];
    const result: BatchResult = { step_results: [], step_errors: [] };
    for (const step of steps) {
      let outcome: StepOutcome = "skipped";
      let stepResult: StmtResult | null = null;
      let stepError: StmtError | undefined;
      const autocommit = !this.#db.inTransaction;
      if (step.condition === undefined || evalCond(step.condition, outcomes, autocommit)) {
        try {
          stepResult = await this.#execute(step.query);
          outcome = "ok";
        } catch (error) {
          stepError = toStmtError(error);
          if (stepError === undefined) throw error;
          outcome = "error";
        }
      }
      outcomes.push(outcome);
      result.step_results.push(stepResult);
      result.step_errors.push(stepError?.toBody() ?? null);
    }
    return result;
  }

  #describe(sql: string): DescribeResult {
    const info = statementInfo(sql);
    const statement = this.#db.prepare<unknown, SQLQueryBindings[]>(sql);
    try {
      return {
        params: Array.from({ length: statement.paramsCount }, (_, i) => ({
          name: info.params[i] ?? null,
        })),
        cols: columns(statement),
        is_explain: info.isExplain,
        is_readonly: statement.readonly,
      };
    } finally {
      statement.finalize();
    }
  }

  /**
   * sqld makes a statement wait for a lock held by another connection. A busy_timeout would
   * block this whole process (the lock holder's next request, and a client in the same
   * process, included), so the wait here is a retry loop that yields to the event loop.
   */
  async #execute(query: Query): Promise<StmtResult> {
    const deadline = Date.now() + this.#busyTimeoutMs;
    for (;;) {
      const mayWait = !this.#db.inTransaction || this.#statementsInTxn === 0;
      try {
        return this.#executeOnce(query);
      } catch (error) {
        if (!(mayWait && isBusy(error) && Date.now() < deadline && !this.#closed)) throw error;
      }
      await Bun.sleep(BUSY_POLL_MS);
    }
  }

  #executeOnce(query: Query): StmtResult {
    const wasAutocommit = !this.#db.inTransaction;
    try {
      const sql = query.info.isReadonlyBegin ? "BEGIN DEFERRED" : query.sql;
      const statement = this.#db.prepare<unknown, SQLQueryBindings[]>(sql);
      try {
        const rows = bindAndStep(statement, query);
        const [changes, rowid] = this.#db
          .query<unknown, []>("SELECT changes(), last_insert_rowid()")
          .values()[0] ?? [0, 0];
        if (query.info.isReadonlyBegin) {
          this.#db.run("PRAGMA query_only = ON");
          this.#readonlyTxn = true;
        }
        return {
          cols: columns(statement),
          rows: query.wantRows ? rows.map((row) => row.map(encodeValue)) : [],
          affected_row_count: query.info.isWrite ? Number(changes) : 0,
          last_insert_rowid: query.info.isInsert ? String(rowid) : null,
        };
      } finally {
        statement.finalize();
      }
    } finally {
      this.#afterStatement(wasAutocommit);
    }
  }

  #afterStatement(wasAutocommit: boolean): void {
    if (this.#closed) return;
    if (this.#db.inTransaction) {
      this.#statementsInTxn = wasAutocommit ? 0 : this.#statementsInTxn + 1;
    } else if (this.#readonlyTxn) {
      this.#readonlyTxn = false;
      this.#db.run("PRAGMA query_only = OFF");
    }
  }
}

/** A statement of a `sequence`: no arguments, no rows wanted. */
function sequenceStep(sql: string): Query {
  return { sql, info: statementInfo(sql), args: [], namedArgs: undefined, wantRows: false };
}

function columns(statement: AnyStatement): { name: string; decltype: string | null }[] {
  return statement.columnNames.map((name, i) => ({
    name,
    decltype: statement.declaredTypes[i] ?? null,
  }));
}

/** Like sqld: every parameter needs a value, and there must not be more values than parameters. */
function bindAndStep(statement: AnyStatement, query: Query): SqlValue[][] {
  const expected = statement.paramsCount;
  try {
    const given = query.namedArgs ? Object.keys(query.namedArgs).length : query.args.length;
    if (given > expected) {
      throw new Error(`too many parameters, expected ${expected} found ${given}`);
    }
    // bun:sqlite's strict mode finds `:a`, `@a` and `$a` under "a" and reports missing names.
    if (query.namedArgs !== undefined) return statement.values(query.namedArgs);
    if (given < expected) throw new Error(`value for parameter ${given + 1} not found`);
    return statement.values(...query.args);
  } catch (error) {
    if (error instanceof SQLiteError) throw error;
    throw new StmtError(
      `Arguments do not match SQL parameters: ${(error as Error).message}`,
      "ARGS_INVALID",
    );
  }
}
