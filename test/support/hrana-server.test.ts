import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Client,
  type Config,
  createClient,
  LibsqlBatchError,
  LibsqlError,
} from "@libsql/client";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { freePort, tempDir } from "./fixtures.ts";
import type { StreamResult } from "./hrana/protocol.ts";
import { type HranaServer, type HranaServerOptions, startHranaServer } from "./hrana-server.ts";

interface PipelineAnswer {
  baton: string | null;
  base_url: string | null;
  results: StreamResult[];
}

const TOKEN = "hrana-test-token";

/** Everything started here, closed at the end even when a test fails. */
const servers: HranaServer[] = [];
const clients: Client[] = [];
let server: HranaServer;
let client: Client;

/** A server on a database of its own. */
async function serverWith(options: Omit<HranaServerOptions, "dbPath" | "authToken"> = {}) {
  const dbPath = join(tempDir("hrana"), "db.sqlite");
  const started = await startHranaServer({ dbPath, authToken: TOKEN, ...options });
  servers.push(started);
  return started;
}

function connect(target: HranaServer, options: Partial<Config> = {}): Client {
  const made = createClient({ url: target.url, authToken: TOKEN, ...options });
  clients.push(made);
  return made;
}

beforeAll(async () => {
  server = await serverWith();
  client = connect(server);
});

afterAll(async () => {
  for (const each of clients) each.close();
  await Promise.all(servers.map((each) => each.stop()));
});

async function rejection(promise: Promise<unknown>): Promise<LibsqlError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(LibsqlError);
    return error as LibsqlError;
  }
  throw new Error("expected a LibsqlError, but the promise resolved");
}

/** A raw Hrana pipeline request, for what the client cannot express. */
async function pipeline(body: object, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/v2/pipeline`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const type = response.headers.get("content-type") ?? "";
  const payload: unknown =
    type === "application/json" ? await response.json() : await response.text();
  return { status: response.status, body: payload };
}

/** The body of a 200 answer. */
function answer(raw: { status: number; body: unknown }): PipelineAnswer {
  if (raw.status !== 200) throw new Error(`HTTP ${raw.status}: ${JSON.stringify(raw.body)}`);
  return raw.body as PipelineAnswer;
}

const execute = (sql: string, args: object[] = []) => ({
  type: "execute",
  stmt: { sql, args, want_rows: true },
});

describe("statements", () => {
  test("positional args of every type round-trip with their SQLite types", async () => {
    await client.execute("CREATE TABLE vals (i INTEGER, f REAL, t TEXT, b BLOB, n)");
    const big = 2n ** 62n + 1n;
    const args = [big, 1.25, "héllo; ✓", new Uint8Array([0, 1, 255]), null];
    await client.execute({ sql: "INSERT INTO vals VALUES (?, ?, ?, ?, ?)", args });

    const types = await client.execute({
      sql: "SELECT typeof(i), typeof(f), typeof(t), typeof(b), typeof(n) FROM vals",
    });
    expect(Object.values(types.rows[0] ?? {})).toEqual(["integer", "real", "text", "blob", "null"]);
    const row = (await connect(server, { intMode: "bigint" }).execute("SELECT * FROM vals"))
      .rows[0];
    expect(row?.i).toBe(big);
    expect(row?.f).toBe(1.25);
    expect(row?.t).toBe("héllo; ✓");
    expect(new Uint8Array(row?.b as ArrayBuffer)).toEqual(new Uint8Array([0, 1, 255]));
    expect(row?.n).toBeNull();
    // The default intMode gives numbers, and refuses what a number cannot hold.
    expect((await client.execute("SELECT 7 AS seven")).rows[0]?.seven).toBe(7);
    await expect(client.execute("SELECT i FROM vals")).rejects.toThrow(RangeError);
  });

  test("named args bind with or without their prefix", async () => {
    const sql = "SELECT :a AS a, @b AS b, $c AS c";
    const bare = await client.execute({ sql, args: { a: 1, b: "two", c: null } });
    const prefixed = await client.execute({ sql, args: { ":a": 1, "@b": "two", $c: null } });
    for (const result of [bare, prefixed]) {
      expect({ ...result.rows[0] }).toEqual({ a: 1, b: "two", c: null });
    }
  });

  test("results carry columns, decltypes, affected rows and the insert rowid like sqld", async () => {
    await client.execute("CREATE TABLE meta (id INTEGER PRIMARY KEY, label TEXT)");
    const insert = await client.execute("INSERT INTO meta (label) VALUES ('a'), ('b')");
    expect(insert.rowsAffected).toBe(2);
    expect(insert.lastInsertRowid).toBe(2n);
    const update = await client.execute("UPDATE meta SET label = 'c' WHERE id = 1");
    expect(update.rowsAffected).toBe(1);
    expect(update.lastInsertRowid).toBeUndefined();
    const select = await client.execute("SELECT id, label, id + 1 AS next FROM meta ORDER BY id");
    expect(select.columns).toEqual(["id", "label", "next"]);
    expect(select.columnTypes).toEqual(["INTEGER", "TEXT", ""]);
    expect(select.rowsAffected).toBe(0);
    expect(select.rows.map((row) => row.label)).toEqual(["c", "b"]);
  });

  test("SQLite errors reach the client with their codes", async () => {
    await client.execute("CREATE TABLE uniq (id INTEGER PRIMARY KEY, email TEXT UNIQUE)");
    await client.execute("INSERT INTO uniq VALUES (1, 'a@x')");
    const unique = await rejection(client.execute("INSERT INTO uniq VALUES (2, 'a@x')"));
    expect(unique.code).toBe("SQLITE_CONSTRAINT_UNIQUE");
    expect(unique.message).toContain("UNIQUE constraint failed: uniq.email");
    const primary = await rejection(client.execute("INSERT INTO uniq VALUES (1, 'b@x')"));
    expect(primary.code).toBe("SQLITE_CONSTRAINT_PRIMARYKEY");
    expect((await rejection(client.execute("SELEC 1"))).code).toBe("SQLITE_ERROR");
    expect((await rejection(client.execute("SELECT * FROM nowhere"))).code).toBe("SQLITE_ERROR");
    expect((await rejection(client.execute("SELECT 1; SELECT 2"))).code).toBe(
      "SQL_MANY_STATEMENTS",
    );
    for (const args of [[], [1, 2]]) {
      const error = await rejection(client.execute({ sql: "SELECT ?", args }));
      expect(error.code).toBe("ARGS_INVALID");
    }
    expect((await client.execute("SELECT count(*) AS n FROM uniq")).rows[0]?.n).toBe(1);
  });

  test("executeMultiple runs statement by statement and stops at the first error", async () => {
    await client.executeMultiple(`
      CREATE TABLE seq (v TEXT); -- a comment; with a semicolon
      CREATE TABLE seq_log (v TEXT);
      CREATE TRIGGER seq_logged AFTER INSERT ON seq BEGIN
        INSERT INTO seq_log VALUES (CASE WHEN NEW.v = '' THEN 'empty' ELSE 'logged;' || NEW.v END);
      END;
      INSERT INTO seq VALUES ('a;b');
    `);
    expect((await client.execute("SELECT v FROM seq_log")).rows.map((row) => row.v)).toEqual([
      "logged;a;b",
    ]);
    const error = await rejection(
      client.executeMultiple(
        "INSERT INTO seq VALUES ('c'); INSERT INTO nowhere VALUES (1); INSERT INTO seq VALUES ('d')",
      ),
    );
    expect(error.code).toBe("SQLITE_ERROR");
    expect((await client.execute("SELECT v FROM seq ORDER BY v")).rows.map((r) => r.v)).toEqual([
      "a;b",
      "c",
    ]);
  });
});

describe("batches and transactions", () => {
  test("a write batch is all or nothing", async () => {
    await client.execute("CREATE TABLE batched (id INTEGER PRIMARY KEY)");
    const ok = await client.batch(
      ["INSERT INTO batched VALUES (1)", { sql: "INSERT INTO batched VALUES (?)", args: [2] }],
      "write",
    );
    expect(ok.map((result) => result.rowsAffected)).toEqual([1, 1]);

    const failing = client.batch(
      [
        "INSERT INTO batched VALUES (3)",
        "INSERT INTO batched VALUES (1)",
        "INSERT INTO batched VALUES (4)",
      ],
      "write",
    );
    const error = await rejection(failing);
    expect(error).toBeInstanceOf(LibsqlBatchError);
    expect((error as LibsqlBatchError).statementIndex).toBe(1);
    expect(error.code).toStartWith("SQLITE_CONSTRAINT");
    const ids = await client.execute("SELECT id FROM batched ORDER BY id");
    expect(ids.rows.map((row) => row.id)).toEqual([1, 2]);
  });

  test("a read batch reads, and cannot write (libSQL's BEGIN TRANSACTION READONLY)", async () => {
    await client.execute("CREATE TABLE readable (v INTEGER)");
    await client.execute("INSERT INTO readable VALUES (5)");
    const [sum] = await client.batch(["SELECT sum(v) AS s FROM readable"], "read");
    expect(sum?.rows[0]?.s).toBe(5);
    const error = await rejection(client.batch(["INSERT INTO readable VALUES (6)"], "read"));
    expect(error.code).toBe("SQLITE_READONLY");
    await client.execute("INSERT INTO readable VALUES (7)"); // a new stream writes again
    expect((await client.execute("SELECT count(*) AS n FROM readable")).rows[0]?.n).toBe(2);
  });

  test("an interactive transaction spans requests, with savepoints, isolated until commit", async () => {
    await client.execute("CREATE TABLE steps (v TEXT)");
    const tx = await client.transaction("write");
    try {
      await tx.execute("INSERT INTO steps VALUES ('a')");
      expect((await client.execute("SELECT count(*) AS n FROM steps")).rows[0]?.n).toBe(0);
      await tx.execute("SAVEPOINT inner_step");
      await tx.execute("INSERT INTO steps VALUES ('b')");
      await tx.execute("ROLLBACK TO inner_step");
      await tx.execute({ sql: "INSERT INTO steps VALUES (?)", args: ["c"] });
      await tx.execute("RELEASE inner_step");
      expect((await tx.execute("SELECT count(*) AS n FROM steps")).rows[0]?.n).toBe(2);
      await tx.commit();
    } finally {
      tx.close();
    }
    const rows = await client.execute("SELECT v FROM steps ORDER BY v");
    expect(rows.rows.map((row) => row.v)).toEqual(["a", "c"]);
  });

  test("rollback, and closing without commit, undo the transaction", async () => {
    await client.execute("CREATE TABLE undone (v INTEGER)");
    const rolledBack = await client.transaction("write");
    await rolledBack.execute("INSERT INTO undone VALUES (1)");
    await rolledBack.rollback();
    const closed = await client.transaction("write");
    await closed.execute("INSERT INTO undone VALUES (2)");
    closed.close();
    // The close is sent after close() returns; the next writer waits for it.
    await client.execute("INSERT INTO undone VALUES (3)");
    const rows = await client.execute("SELECT v FROM undone");
    expect(rows.rows.map((row) => row.v)).toEqual([3]);
  });

  test("a second write transaction waits until the first one commits", async () => {
    await client.execute("CREATE TABLE queue (v TEXT)");
    const first = await client.transaction("write");
    const second = await client.transaction("write");
    try {
      await first.execute("INSERT INTO queue VALUES ('first')");
      let settled = false;
      const waiting = second.execute("INSERT INTO queue VALUES ('second')").finally(() => {
        settled = true;
      });
      await Bun.sleep(200);
      expect(settled).toBe(false);
      await first.commit();
      await waiting;
      await second.commit();
    } finally {
      first.close();
      second.close();
    }
    const rows = await client.execute("SELECT v FROM queue ORDER BY rowid");
    expect(rows.rows.map((row) => row.v)).toEqual(["first", "second"]);
  });

  test("a write transaction that waits longer than busyTimeoutMs fails with SQLITE_BUSY", async () => {
    const impatient = connect(await serverWith({ busyTimeoutMs: 100 }));
    await impatient.execute("CREATE TABLE contended (v INTEGER)");
    const holder = await impatient.transaction("write");
    try {
      await holder.execute("INSERT INTO contended VALUES (1)");
      const started = Date.now();
      const error = await rejection(impatient.execute("INSERT INTO contended VALUES (2)"));
      expect(error.code).toBe("SQLITE_BUSY");
      expect(Date.now() - started).toBeGreaterThanOrEqual(90);
      await holder.commit();
    } finally {
      holder.close();
    }
    await impatient.execute("INSERT INTO contended VALUES (3)");
    const rows = await impatient.execute("SELECT v FROM contended ORDER BY v");
    expect(rows.rows.map((row) => row.v)).toEqual([1, 3]);
  });

  test("a transaction idle longer than the baton timeout is rolled back and fails next", async () => {
    const short = connect(await serverWith({ batonTimeoutMs: 300, busyTimeoutMs: 50 }));
    await short.execute("CREATE TABLE idle (v INTEGER)");
    const tx = await short.transaction("write");
    try {
      await tx.execute("INSERT INTO idle VALUES (1)");
      await Bun.sleep(600);
      // The write lock is free again (this would fail with SQLITE_BUSY after 50 ms otherwise).
      await short.execute("INSERT INTO idle VALUES (2)");
      const error = await rejection(tx.execute("INSERT INTO idle VALUES (3)"));
      expect(error.code).toBe("STREAM_EXPIRED");
    } finally {
      tx.close();
    }
    expect((await short.execute("SELECT v FROM idle")).rows.map((row) => row.v)).toEqual([2]);
  });

  test("drizzle migrates (client.migrate) and queries over it", async () => {
    const folder = tempDir("hrana-migrations");
    mkdirSync(join(folder, "meta"));
    const journal = { version: "7", dialect: "sqlite", entries: [] as object[] };
    journal.entries.push({
      idx: 0,
      version: "6",
      when: 1700000000000,
      tag: "0000_courses",
      breakpoints: true,
    });
    writeFileSync(join(folder, "meta", "_journal.json"), JSON.stringify(journal));
    writeFileSync(
      join(folder, "0000_courses.sql"),
      [
        "CREATE TABLE `courses` (`id` integer PRIMARY KEY NOT NULL, `title` text NOT NULL);",
        "CREATE TRIGGER `courses_title` BEFORE INSERT ON `courses` BEGIN SELECT RAISE(ABORT, 'empty title') WHERE NEW.title = ''; END;",
      ].join("\n--> statement-breakpoint\n"),
    );
    const courses = sqliteTable("courses", {
      id: integer("id").primaryKey(),
      title: text("title").notNull(),
    });
    const db = drizzle(client);
    await migrate(db, { migrationsFolder: folder });
    await migrate(db, { migrationsFolder: folder }); // already applied: a no-op

    await db.transaction(async (tx) => {
      await tx.insert(courses).values({ id: 1, title: "SQLite" });
      await tx.update(courses).set({ title: "SQLite over HTTP" }).where(eq(courses.id, 1));
    });
    expect(await db.select().from(courses)).toEqual([{ id: 1, title: "SQLite over HTTP" }]);
    const error = await db
      .insert(courses)
      .values({ id: 2, title: "" })
      .then(
        () => undefined,
        (caught: Error) => caught.cause as LibsqlError,
      );
    expect(error?.code).toBe("SQLITE_CONSTRAINT_TRIGGER");
    const applied = await client.execute("SELECT count(*) AS n FROM __drizzle_migrations");
    expect(applied.rows[0]?.n).toBe(1);
  });
});

describe("the HTTP protocol", () => {
  test("GET /v2 answers; v3 and anything else is 404, and the client never probes", async () => {
    expect((await fetch(`${server.url}/v2`)).status).toBe(200);
    for (const path of ["/v3", "/v3-protobuf", "/v3/pipeline", "/", "/v1/execute"]) {
      expect((await fetch(`${server.url}${path}`)).status).toBe(404);
    }
    const seen: string[] = [];
    const spy = connect(server, {
      fetch: (request: Request) => {
        seen.push(`${request.method} ${new URL(request.url).pathname}`);
        return fetch(request);
      },
    });
    await spy.execute("SELECT 1");
    expect(seen).toEqual(["POST /v2/pipeline"]);
  });

  test("requests without the bearer token get 401", async () => {
    const anonymous = connect(server, { authToken: undefined });
    const wrong = connect(server, { authToken: "wrong" });
    for (const each of [anonymous, wrong]) {
      const error = await rejection(each.execute("SELECT 1"));
      expect(error.code).toBe("SERVER_ERROR");
      expect(error.message).toContain("HTTP status 401");
    }
    const raw = await pipeline({ requests: [execute("SELECT 1")] }, { authorization: "" });
    expect(raw.status).toBe(401);
  });

  test("each response issues a new single-use baton until the stream closes", async () => {
    const opened = await pipeline({ baton: null, requests: [execute("SELECT 1")] });
    expect(opened.status).toBe(200);
    const first = answer(opened).baton;
    expect(first).toBeString();
    const next = await pipeline({ baton: first, requests: [execute("SELECT 2")] });
    expect(answer(next).results).toMatchObject([
      {
        type: "ok",
        response: { type: "execute", result: { rows: [[{ type: "integer", value: "2" }]] } },
      },
    ]);
    const second = answer(next).baton;
    expect(second).toBeString();
    expect(second).not.toBe(first);

    const reused = await pipeline({ baton: first, requests: [execute("SELECT 3")] });
    expect(reused).toEqual({ status: 400, body: "Received a baton that has already been used" });
    const unknown = await pipeline({ baton: "nobody.1", requests: [] });
    expect(unknown).toEqual({ status: 400, body: "Received an invalid baton" });

    const closed = await pipeline({ baton: second, requests: [{ type: "close" }] });
    expect(closed.body).toEqual({
      baton: null,
      base_url: null,
      results: [{ type: "ok", response: { type: "close" } }],
    });
    expect((await pipeline({ baton: second, requests: [] })).status).toBe(400);
  });

  test("batch steps run on ok, error, not, and, or and is_autocommit conditions", async () => {
    const ok = (step: number) => ({ type: "ok", step });
    const error = (step: number) => ({ type: "error", step });
    const conditions = [
      undefined,
      undefined,
      ok(0),
      error(1),
      { type: "not", cond: ok(1) },
      { type: "and", conds: [ok(0), error(1)] },
      { type: "or", conds: [ok(1), error(0)] },
      { type: "is_autocommit" },
      ok(6), // step 6 was skipped: neither ok ...
      error(6), // ... nor error
    ];
    const steps = conditions.map((condition, i) => ({
      condition,
      stmt: { sql: i === 1 ? "SELECT * FROM nowhere" : `SELECT ${i}` },
    }));
    const batch = { type: "batch", batch: { steps } };
    const raw = await pipeline({ requests: [batch, { type: "close" }] });
    expect(raw.status).toBe(200);
    expect(answer(raw).baton).toBeNull();
    const [first] = answer(raw).results;
    if (first?.type !== "ok" || first.response.type !== "batch") throw new Error("no batch result");
    const { step_results: results, step_errors: errors } = first.response.result;
    const ran = results.map((result) => {
      const cell = result?.rows[0]?.[0];
      return cell?.type === "integer" ? Number(cell.value) : null;
    });
    expect(ran).toEqual([0, null, 2, 3, 4, 5, null, 7, null, null]);
    expect(errors.map((each) => each !== null)).toEqual(ran.map((_, i) => i === 1));
    expect(errors[1]).toEqual({
      message: "SQLite error: no such table: nowhere",
      code: "SQLITE_ERROR",
    });

    const forward = [{ condition: ok(0), stmt: { sql: "SELECT 1" } }];
    const bad = await pipeline({ requests: [{ type: "batch", batch: { steps: forward } }] });
    expect(bad).toEqual({ status: 400, body: "Invalid reference to step in a batch condition" });
  });

  test("store_sql, close_sql, describe, sequence and get_autocommit", async () => {
    const a = { name: "a", value: { type: "text", value: "t" } };
    const raw = await pipeline({
      requests: [
        { type: "store_sql", sql_id: 1, sql: "SELECT :a AS x, :b AS y" },
        {
          type: "execute",
          stmt: { sql_id: 1, named_args: [a, { name: ":b", value: { type: "null" } }] },
        },
        { type: "describe", sql: "SELECT :a AS x, ? AS y, ?5 AS z" },
        { type: "get_autocommit" },
        { type: "sequence", sql: "BEGIN; SELECT 1;" },
        { type: "get_autocommit" },
        {
          type: "execute",
          stmt: { sql: "SELECT ?", args: [{ type: "float", value: 0.5 }], want_rows: false },
        },
        { type: "close_sql", sql_id: 1 },
      ],
    });
    const { baton, results } = answer(raw);
    expect(results.map((result) => (result.type === "ok" ? result.response : result))).toEqual([
      { type: "store_sql" },
      {
        type: "execute",
        result: {
          cols: ["x", "y"].map((name) => ({ name, decltype: null })),
          rows: [[{ type: "text", value: "t" }, { type: "null" }]],
          affected_row_count: 0,
          last_insert_rowid: null,
        },
      },
      {
        type: "describe",
        result: {
          params: [":a", null, null, null, "?5"].map((name) => ({ name })),
          cols: ["x", "y", "z"].map((name) => ({ name, decltype: null })),
          is_explain: false,
          is_readonly: true,
        },
      },
      { type: "get_autocommit", is_autocommit: true },
      { type: "sequence" },
      { type: "get_autocommit", is_autocommit: false },
      {
        type: "execute",
        result: {
          cols: [{ name: "?", decltype: null }],
          rows: [],
          affected_row_count: 0,
          last_insert_rowid: null,
        },
      },
      { type: "close_sql" },
    ]);

    const closedSql = await pipeline({
      baton,
      requests: [{ type: "execute", stmt: { sql_id: 1 } }],
    });
    expect(closedSql).toEqual({ status: 400, body: "SQL text 1 not found" });
  });
});

describe("the standalone server", () => {
  test("prints its address, serves, and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const dbPath = join(tempDir("hrana-cli"), "cli.db");
    const script = join(import.meta.dir, "hrana-server.ts");
    const child = Bun.spawn(
      [process.execPath, script, "--port", String(port), "--db", dbPath, "--auth-token", TOKEN],
      { stdout: "pipe", stderr: "pipe" },
    );
    try {
      const reader = child.stdout.getReader();
      let output = "";
      while (!output.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`server exited: ${await new Response(child.stderr).text()}`);
        output += new TextDecoder().decode(value);
      }
      expect(output.trim()).toBe(`listening on http://127.0.0.1:${port}`);
      const standalone = createClient({ url: `http://127.0.0.1:${port}`, authToken: TOKEN });
      try {
        expect((await standalone.execute("SELECT 40 + 2 AS answer")).rows[0]?.answer).toBe(42);
      } finally {
        standalone.close();
      }
      child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
