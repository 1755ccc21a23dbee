import { afterAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { DeadLetterStore } from "../../src/stream/dead-letter-store.ts";
import {
  type DeadLetter,
  DeadLetterWriter,
  deadLetterStreamName,
} from "../../src/stream/dead-letters.ts";
import { REPO_ROOT } from "../support/binary.ts";
import { startFaultProxy } from "../support/fault-proxy.ts";
import { freePort, testRedisUrl, uniqueName } from "../support/fixtures.ts";
import { runCoursepay } from "../support/run-coursepay.ts";

const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
afterAll(() => redis.disconnect());

/** A dead letter whose original is in wire form "data". */
function dataLetter(traceId: string, detail = "metadata.course_id: required"): DeadLetter {
  const envelope = { event_type: "paycore.payment_succeeded", trace_id: traceId, metadata: {} };
  return {
    originalId: "5-0",
    originalFields: ["data", JSON.stringify(envelope)],
    reason: "invalid_event",
    detail,
    attempts: 1,
    traceId,
    eventType: "paycore.payment_succeeded",
  };
}

/** A dead letter whose original is in the flat wire form. */
function flatLetter(traceId: string): DeadLetter {
  return {
    originalId: "7-3",
    originalFields: [
      "event_type",
      "paycore.payment_succeeded",
      "trace_id",
      traceId,
      "tenant_id",
      "t1",
      "user_id",
      "u1",
      "metadata",
      '{"course_id":"c1"}',
    ],
    reason: "max_deliveries",
    detail: "Error: boom",
    subscriber: "course_payment_subscriber",
    attempts: 5,
    traceId,
  };
}

/** A fresh stream with these dead letters written by the worker's own writer; their ids. */
async function seed(letters: DeadLetter[]): Promise<{ stream: string; ids: string[] }> {
  const stream = uniqueName("dlq-stream");
  await new DeadLetterWriter(redis, deadLetterStreamName(stream)).write(letters);
  const entries = await redis.xrange(deadLetterStreamName(stream), "-", "+");
  return { stream, ids: entries.map(([id]) => id) };
}

async function dlqIds(stream: string): Promise<string[]> {
  return (await redis.xrange(deadLetterStreamName(stream), "-", "+")).map(([id]) => id);
}

async function mainStream(stream: string): Promise<string[][]> {
  return (await redis.xrange(stream, "-", "+")).map(([, fields]) => fields);
}

function coursepay(stream: string, args: string[], env: Record<string, string> = {}) {
  return runCoursepay(["dlq", ...args], {
    REDIS_URL: testRedisUrl(),
    EVENT_STREAM: stream,
    ...env,
  });
}

describe("DeadLetterStore", () => {
  test("list returns the newest N oldest first, parsed, and count is XLEN", async () => {
    const { stream, ids } = await seed([
      dataLetter("evt_1"),
      flatLetter("evt_2"),
      dataLetter("evt_3"),
    ]);
    const store = new DeadLetterStore(redis, stream);
    expect(await store.count()).toBe(3);
    const letters = await store.list(2);
    expect(letters.map((l) => l.id)).toEqual([ids[1], ids[2]] as string[]);
    expect(letters[0]).toEqual({
      id: ids[1] as string,
      originalId: "7-3",
      original: flatLetter("evt_2").originalFields as string[],
      originalText: JSON.stringify(flatLetter("evt_2").originalFields),
      reason: "max_deliveries",
      detail: "Error: boom",
      attempts: 5,
      failedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      subscriber: "course_payment_subscriber",
      traceId: "evt_2",
      eventType: undefined,
    });
    expect(letters[1]?.original).toEqual(dataLetter("evt_3").originalFields as string[]);
  });

  test("a dead letter with an unreadable original is listed, and its replay fails", async () => {
    const stream = uniqueName("dlq-stream");
    const id = (await redis.xadd(
      deadLetterStreamName(stream),
      "*",
      "original_id",
      "1-0",
      "original",
      '["odd"]',
      "reason",
      "invalid_json",
      "attempts",
      "x",
    )) as string;
    const store = new DeadLetterStore(redis, stream);
    const [letter] = await store.list(10);
    expect(letter).toMatchObject({ id, original: undefined, originalText: '["odd"]' });
    expect(letter?.attempts).toBeUndefined();
    const result = await store.replay([id]);
    expect(result.replayed).toEqual([]);
    expect(result.failed).toEqual({
      id,
      message: "its original is not a JSON array of field/value pairs",
    });
    expect(await dlqIds(stream)).toEqual([id]);
  });

  test("get returns the dead letters found in stream order and names the others", async () => {
    const { stream, ids } = await seed([dataLetter("evt_1"), dataLetter("evt_2")]);
    const store = new DeadLetterStore(redis, stream);
    const { found, missing } = await store.get([ids[1] as string, "1-1", ids[0] as string, "x"]);
    expect(found.map((l) => l.id)).toEqual(ids);
    expect(missing).toEqual(["1-1", "x"]);
  });

  test("replaying one id puts its exact original pairs on the stream and deletes only it", async () => {
    const { stream, ids } = await seed([dataLetter("evt_1"), flatLetter("evt_2")]);
    const store = new DeadLetterStore(redis, stream);
    const result = await store.replay([ids[1] as string]);
    expect(result.missing).toEqual([]);
    expect(result.failed).toBeUndefined();
    expect(result.replayed).toHaveLength(1);
    expect(result.replayed[0]).toMatchObject({ id: ids[1], traceId: "evt_2" });
    const entries = await redis.xrange(stream, "-", "+");
    expect(entries).toEqual([
      [result.replayed[0]?.newId as string, flatLetter("evt_2").originalFields as string[]],
    ]);
    expect(await dlqIds(stream)).toEqual([ids[0] as string]);
  });

  test("a replay naming an unknown id replays nothing", async () => {
    const { stream, ids } = await seed([dataLetter("evt_1")]);
    const result = await new DeadLetterStore(redis, stream).replay([ids[0] as string, "1-0"]);
    expect(result).toEqual({ missing: ["1-0"], replayed: [], notAttempted: 0 });
    expect(await redis.exists(stream)).toBe(0);
    expect(await dlqIds(stream)).toEqual(ids);
  });

  test("replayAll pages through every dead letter in order and leaves ones written meanwhile", async () => {
    const letters = [1, 2, 3, 4, 5].map((n) =>
      n % 2 ? dataLetter(`evt_${n}`) : flatLetter(`evt_${n}`),
    );
    const { stream, ids } = await seed(letters);
    const writer = new DeadLetterWriter(redis, deadLetterStreamName(stream));
    const store = new DeadLetterStore(redis, stream, { pageSize: 2 });
    const seen: string[] = [];
    const result = await store.replayAll((replayed) => {
      seen.push(replayed.id);
      // A replayed event failing again at once: dead-lettered after replayAll started.
      if (seen.length === 1) void writer.write([dataLetter("evt_again")]);
    });
    expect(result.failed).toBeUndefined();
    expect(result.replayed.map((r) => r.id)).toEqual(ids);
    expect(seen).toEqual(ids);
    expect(await mainStream(stream)).toEqual(letters.map((l) => l.originalFields as string[]));
    const left = await new DeadLetterStore(redis, stream).list(10);
    expect(left.map((l) => l.traceId)).toEqual(["evt_again"]);
  });

  test("a replay whose XADD fails keeps that dead letter and the ones after it", async () => {
    const { stream, ids } = await seed([
      dataLetter("evt_1"),
      dataLetter("evt_2"),
      dataLetter("evt_3"),
    ]);
    const store = new DeadLetterStore(redis, stream, { pageSize: 2 });
    await redis.set(stream, "not a stream");
    const result = await store.replayAll();
    expect(result.replayed).toEqual([]);
    expect(result.failed?.id).toBe(ids[0] as string);
    expect(result.failed?.message).toContain("WRONGTYPE");
    expect(result.notAttempted).toBe(2);
    expect(await dlqIds(stream)).toEqual(ids);

    await redis.del(stream);
    const again = await store.replay([ids[2] as string, ids[1] as string]);
    expect(again.replayed.map((r) => r.id)).toEqual([ids[1], ids[2]] as string[]);
    expect(await dlqIds(stream)).toEqual([ids[0] as string]);
  });

  test("a replay whose reply is lost is resent by ioredis and puts the event on the stream once", async () => {
    const { stream, ids } = await seed([dataLetter("evt_lost_reply")]);
    const target = new URL(testRedisUrl());
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port) });
    // A client as the CLI makes it: ioredis resends a command whose reply never came.
    const client = new Redis(proxy.url, { maxRetriesPerRequest: 1 });
    try {
      const rule = proxy.failReply({
        match: (cmd) =>
          (cmd.name === "EVAL" || cmd.name === "EVALSHA") && cmd.args.includes(ids[0] as string),
        action: "cut-after-start",
      });
      const result = await new DeadLetterStore(client, stream).replay([ids[0] as string]);
      await rule.fired;
      expect(result.failed).toBeUndefined();
      expect(result.replayed.map((r) => r.id)).toEqual([ids[0] as string]);
      // The resent script found the dead letter gone: one copy on the stream, none left.
      expect(await mainStream(stream)).toHaveLength(1);
      expect(await dlqIds(stream)).toEqual([]);
    } finally {
      client.disconnect();
      await proxy.close();
    }
  });

  test("purge deletes the ids given, or nothing when one is unknown", async () => {
    const { stream, ids } = await seed([
      dataLetter("evt_1"),
      dataLetter("evt_2"),
      dataLetter("evt_3"),
    ]);
    const store = new DeadLetterStore(redis, stream);
    expect(await store.purge([ids[0] as string, "1-0"])).toEqual({ missing: ["1-0"], removed: 0 });
    expect(await store.purge([ids[0] as string, ids[2] as string])).toEqual({
      missing: [],
      removed: 2,
    });
    expect(await dlqIds(stream)).toEqual([ids[1] as string]);
  });

  test("purgeAll deletes the dead letters present at its start, not ones written meanwhile", async () => {
    const { stream } = await seed([1, 2, 3, 4, 5].map((n) => dataLetter(`evt_${n}`)));
    const connection = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
    try {
      const writer = new DeadLetterWriter(redis, deadLetterStreamName(stream));
      const xdel = connection.xdel.bind(connection);
      let calls = 0;
      // The first XDEL also lets a new dead letter arrive, between two pages.
      connection.xdel = (async (...args: Parameters<typeof xdel>) => {
        calls += 1;
        if (calls === 1) await writer.write([dataLetter("evt_new")]);
        return xdel(...args);
      }) as typeof connection.xdel;
      const removed = await new DeadLetterStore(connection, stream, { pageSize: 2 }).purgeAll();
      expect(removed).toBe(5);
      expect(calls).toBe(3);
    } finally {
      connection.disconnect();
    }
    const left = await new DeadLetterStore(redis, stream).list(10);
    expect(left.map((l) => l.traceId)).toEqual(["evt_new"]);
    expect(await redis.type(deadLetterStreamName(stream))).toBe("stream");
  });

  test("replayAll and purgeAll on an empty dead-letter stream do nothing", async () => {
    const store = new DeadLetterStore(redis, uniqueName("dlq-stream"));
    expect(await store.replayAll()).toEqual({ missing: [], replayed: [], notAttempted: 0 });
    expect(await store.purgeAll()).toBe(0);
    expect(await store.list(5)).toEqual([]);
    expect(await store.count()).toBe(0);
  });
});

describe("coursepay dlq", () => {
  test("list prints a table of the newest dead letters and the total", async () => {
    const long = `metadata.course_id: ${"x".repeat(100)}`;
    const { stream, ids } = await seed([
      dataLetter("evt_1"),
      flatLetter("evt_2"),
      dataLetter("evt_3", long),
    ]);
    const run = await coursepay(stream, ["list", "--limit", "2"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^ID\s+REASON\s+TRACE_ID\s+ATTEMPTS\s+FAILED_AT\s+DETAIL$/);
    expect(lines[1]).toMatch(
      new RegExp(`^${ids[1]}\\s+max_deliveries\\s+evt_2\\s+5\\s+\\d{4}-\\S+Z\\s+Error: boom$`),
    );
    expect(lines[2]).toStartWith(`${ids[2]}  invalid_event `);
    expect(lines[2]).toEndWith(`${long.slice(0, 59)}…`);
    expect(lines[3]).toBe("");
    expect(lines[4]).toBe(
      `2 of 3 dead letters in ${stream}.dlq, newest last; --limit 3 shows them all.`,
    );
  });

  test("list --json prints every field with original as its field/value array", async () => {
    const { stream, ids } = await seed([dataLetter("evt_1"), flatLetter("evt_2")]);
    const run = await coursepay(stream, ["list", "--json"]);
    expect(run.code).toBe(0);
    const letters = JSON.parse(run.stdout);
    expect(letters).toEqual([
      {
        id: ids[0],
        original_id: "5-0",
        original: dataLetter("evt_1").originalFields,
        reason: "invalid_event",
        detail: "metadata.course_id: required",
        attempts: 1,
        failed_at: expect.any(String),
        trace_id: "evt_1",
        event_type: "paycore.payment_succeeded",
      },
      {
        id: ids[1],
        original_id: "7-3",
        original: flatLetter("evt_2").originalFields,
        reason: "max_deliveries",
        detail: "Error: boom",
        attempts: 5,
        failed_at: expect.any(String),
        subscriber: "course_payment_subscriber",
        trace_id: "evt_2",
      },
    ]);
  });

  test("list on an empty dead-letter stream says so", async () => {
    const stream = uniqueName("dlq-stream");
    expect(await coursepay(stream, ["list"])).toEqual({
      code: 0,
      stdout: `No dead letters in ${stream}.dlq.\n`,
      stderr: "",
    });
    expect(await coursepay(stream, ["list", "--json"])).toMatchObject({ code: 0, stdout: "[]\n" });
  });

  test("replay <id> republishes the exact original pairs and removes only that dead letter", async () => {
    const { stream, ids } = await seed([dataLetter("evt_1"), flatLetter("evt_2")]);
    const run = await coursepay(stream, ["replay", ids[1] as string]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const [entry] = await redis.xrange(stream, "-", "+");
    expect(entry?.[1]).toEqual(flatLetter("evt_2").originalFields as string[]);
    expect(run.stdout).toBe(
      `replayed ${ids[1]} as ${entry?.[0]} (trace_id evt_2)\nReplayed 1 dead letter to ${stream}.\n`,
    );
    expect(await dlqIds(stream)).toEqual([ids[0] as string]);
  });

  test("replay --all republishes every dead letter in order", async () => {
    const letters = [dataLetter("evt_1"), flatLetter("evt_2"), dataLetter("evt_3")];
    const { stream } = await seed(letters);
    const run = await coursepay(stream, ["replay", "--all"]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe(`Replayed 3 dead letters to ${stream}.`);
    expect(await mainStream(stream)).toEqual(letters.map((l) => l.originalFields as string[]));
    expect(await redis.xlen(deadLetterStreamName(stream))).toBe(0);
  });

  test("replay whose XADD fails exits 1 naming the dead letter, which stays", async () => {
    const { stream, ids } = await seed([dataLetter("evt_1"), dataLetter("evt_2")]);
    await redis.set(stream, "not a stream");
    const run = await coursepay(stream, ["replay", ids[0] as string]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`Replayed 0 dead letters to ${stream}.\n`);
    expect(run.stderr).toBe(
      `coursepay: dlq replay: ${ids[0]} was not replayed and stays in ${stream}.dlq: XADD ${stream} failed: WRONGTYPE Operation against a key holding the wrong kind of value\n`,
    );
    expect(await dlqIds(stream)).toEqual(ids);
    expect(await redis.get(stream)).toBe("not a stream");
  });

  test("replay naming an unknown id exits 2, names it and replays nothing", async () => {
    const { stream, ids } = await seed([dataLetter("evt_1")]);
    const run = await coursepay(stream, ["replay", ids[0] as string, "123-4"]);
    expect(run).toEqual({
      code: 2,
      stdout: "",
      stderr: `coursepay: dlq replay: not in ${stream}.dlq: 123-4; nothing was replayed\n`,
    });
    expect(await redis.exists(stream)).toBe(0);
    expect(await dlqIds(stream)).toEqual(ids);
  });

  test("purge <id…> and purge --all remove dead letters and say how many", async () => {
    const { stream, ids } = await seed([
      dataLetter("evt_1"),
      dataLetter("evt_2"),
      dataLetter("evt_3"),
    ]);
    const one = await coursepay(stream, ["purge", ids[1] as string]);
    expect(one).toEqual({
      code: 0,
      stdout: `Removed 1 dead letter from ${stream}.dlq.\n`,
      stderr: "",
    });
    expect(await dlqIds(stream)).toEqual([ids[0], ids[2]] as string[]);
    const unknown = await coursepay(stream, ["purge", ids[0] as string, ids[1] as string]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      `coursepay: dlq purge: not in ${stream}.dlq: ${ids[1]}; nothing was purged\n`,
    );
    const all = await coursepay(stream, ["purge", "--all", "--yes"]);
    expect(all).toEqual({
      code: 0,
      stdout: `Removed 2 dead letters from ${stream}.dlq.\n`,
      stderr: "",
    });
    expect(await redis.xlen(deadLetterStreamName(stream))).toBe(0);
    expect(await mainStream(stream)).toEqual([]);
  });

  const badUsage: [string[], string][] = [
    [["frob"], "dlq: unknown command 'frob' (see coursepay dlq --help)"],
    [["lsit"], "dlq: unknown command 'lsit' (did you mean list?)"],
    [["replay"], "dlq replay: give one or more dead-letter ids, --reason R, or --all"],
    [["purge"], "dlq purge: give one or more dead-letter ids, or --all"],
    [["replay", "--all", "1-0"], "dlq replay: give dead-letter ids or --all, not both"],
    [["purge", "1-0", "--all"], "dlq purge: give dead-letter ids or --all, not both"],
    [["replay", "1-0", "evt_1"], "dlq replay: not a stream entry id (<ms>-<seq>): evt_1"],
    [["list", "--limit", "0"], 'dlq list: --limit expects a whole number from 1 to 10000, got "0"'],
    [
      ["list", "--limit", "ten"],
      'dlq list: --limit expects a whole number from 1 to 10000, got "ten"',
    ],
    [
      ["list", "--limit", "10001"],
      'dlq list: --limit expects a whole number from 1 to 10000, got "10001"',
    ],
    [["list", "--all"], "dlq list: unknown option '--all' (see coursepay dlq list --help)"],
    [
      ["replay", "--reasn", "conflict"],
      "dlq replay: unknown option '--reasn' (did you mean --reason?)",
    ],
    [["replay", "--reason", "confilct"], "dlq replay: --reason expects one of invalid_json, "],
    [
      ["replay", "--reason", "conflict", "1-0"],
      "dlq replay: give dead-letter ids or --reason, not both",
    ],
    [["show"], "dlq show: missing required argument 'id'"],
    [["show", "evt_1"], "dlq show: not a stream entry id (<ms>-<seq>): evt_1"],
    [
      ["show", "1-0", "2-0"],
      "dlq show: too many arguments. Expected 1 argument but got 2: 1-0, 2-0.",
    ],
  ];
  for (const [args, message] of badUsage) {
    test(`dlq ${args.join(" ") || "(no subcommand)"} is bad usage: exit 2`, async () => {
      const run = await coursepay(uniqueName("dlq-stream"), args);
      expect(run).toMatchObject({ code: 2, stdout: "" });
      expect(run.stderr).toStartWith(`coursepay: ${message}`);
      expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
    });
  }

  test("dlq without a subcommand: exit 2, its help on stderr listing the subcommands", async () => {
    const run = await coursepay(uniqueName("dlq-stream"), []);
    expect(run).toMatchObject({ code: 2, stdout: "" });
    expect(run.stderr).toStartWith("Usage: coursepay dlq [options] [command]\n");
    for (const sub of ["list", "show", "replay", "purge"])
      expect(run.stderr).toContain(`  ${sub} `);
  });

  test("dlq --help and help dlq list the subcommands, not their details", async () => {
    for (const args of [
      ["dlq", "--help"],
      ["help", "dlq"],
    ]) {
      const run = await runCoursepay(args);
      expect(run).toMatchObject({ code: 0, stderr: "" });
      expect(run.stdout).toStartWith("Usage: coursepay dlq [options] [command]\n");
      expect(run.stdout).toContain("  replay [options] [id...]");
      expect(run.stdout).not.toContain("Stops at the first failure");
    }
  });

  const usages: [string[], string, string][] = [
    [["list", "--help"], "Usage: coursepay dlq list [--limit N] [--json]\n", "--limit <N>"],
    [["show", "--help"], "Usage: coursepay dlq show <id> [--json]\n", "in full"],
    [
      ["replay", "--help"],
      "Usage: coursepay dlq replay <id>… | --all | --reason R\n",
      "--reason <R>",
    ],
    [["purge", "-h"], "Usage: coursepay dlq purge <id>… | --all [--yes]\n", "-y, --yes"],
  ];
  for (const [args, usage, option] of usages) {
    test(`dlq ${args.join(" ")} prints the help of that subcommand only`, async () => {
      const run = await coursepay(uniqueName("dlq-stream"), args);
      expect(run).toMatchObject({ code: 0, stderr: "" });
      expect(run.stdout).toStartWith(usage);
      expect(run.stdout).toContain(option);
      const others = usages.map(([, u]) => u).filter((u) => u !== usage);
      for (const other of others) expect(run.stdout).not.toContain(other.trim().slice(7));
    });
  }

  test("show prints one dead letter in full, escaped; --json the object list gives", async () => {
    const evil = dataLetter("evt_\u001b[31mred", "detail\nwith a newline");
    const { stream, ids } = await seed([dataLetter("evt_1"), evil]);
    const run = await coursepay(stream, ["show", ids[1] as string]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 3)).toEqual([
      `id:             ${ids[1]}`,
      "reason:         invalid_event",
      "detail:         detail\\u000awith a newline",
    ]);
    expect(run.stdout).toContain("trace_id:       evt_\\u001b[31mred\n");
    expect(run.stdout).not.toContain("\u001b");
    expect(lines.at(-2)).toBe("original:");
    expect(lines.at(-1)).toStartWith('  data: {"event_type":"paycore.payment_succeeded"');
    const json = await coursepay(stream, ["show", ids[1] as string, "--json"]);
    const list = await coursepay(stream, ["list", "--json"]);
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(list.stdout)[1]);
    const missing = await coursepay(stream, ["show", "1-1"]);
    expect(missing).toEqual({
      code: 2,
      stdout: "",
      stderr: `coursepay: dlq show: not in ${stream}.dlq: 1-1\n`,
    });
  });

  test("replay --reason R replays only the dead letters of that reason", async () => {
    const { stream, ids } = await seed([
      dataLetter("evt_1"),
      flatLetter("evt_2"),
      dataLetter("evt_3"),
      flatLetter("evt_4"),
    ]);
    const run = await coursepay(stream, ["replay", "--reason", "max_deliveries"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toStartWith(`replayed ${ids[1]} as `);
    expect(lines[1]).toStartWith(`replayed ${ids[3]} as `);
    expect(lines[2]).toBe(`Replayed 2 dead letters of reason max_deliveries to ${stream}.`);
    expect(await dlqIds(stream)).toEqual([ids[0], ids[2]] as string[]);
    expect((await mainStream(stream)).map((fields) => fields[3])).toEqual(["evt_2", "evt_4"]);
    const none = await coursepay(stream, ["replay", "--reason", "conflict"]);
    expect(none.stdout).toBe(`Replayed 0 dead letters of reason conflict to ${stream}.\n`);
  });

  test("purge --all off a terminal needs --yes: without it, exit 2 and nothing deleted", async () => {
    const { stream, ids } = await seed([dataLetter("evt_1"), dataLetter("evt_2")]);
    const run = await coursepay(stream, ["purge", "--all"]);
    expect(run).toEqual({
      code: 2,
      stdout: "",
      stderr: `coursepay: dlq purge --all would delete 2 dead letters from ${stream}.dlq: add --yes to confirm (stdin is not a terminal, so it cannot ask)\n`,
    });
    expect(await dlqIds(stream)).toEqual(ids);
  });

  // `script` gives the command a pseudo-terminal, as an operator's shell would.
  for (const [answer, code, left] of [
    ["n", 1, 2],
    ["y", 0, 0],
  ] as const) {
    test(`purge --all on a terminal asks first; answering ${answer} ${left ? "keeps" : "deletes"} them`, async () => {
      const { stream } = await seed([dataLetter("evt_1"), dataLetter("evt_2")]);
      const command = [process.execPath, "src/main.ts", "dlq", "purge", "--all"].join(" ");
      const child = Bun.spawn(["script", "-qec", command, "/dev/null"], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? "", REDIS_URL: testRedisUrl(), EVENT_STREAM: stream },
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
      });
      const output = new Response(child.stdout).text();
      // The terminal holds the typed line until confirm() reads it.
      child.stdin.write(`${answer}\n`);
      await child.stdin.end();
      expect(await child.exited).toBe(code);
      const text = await output;
      expect(text).toContain(`Delete all 2 dead letters in ${stream}.dlq? This cannot be undone.`);
      expect(await redis.xlen(deadLetterStreamName(stream))).toBe(left);
    });
  }

  test("Redis unreachable: exit 1 with one line naming it", async () => {
    const port = await freePort();
    const run = await coursepay(uniqueName("dlq-stream"), ["list"], {
      REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    expect(run).toEqual({
      code: 1,
      stdout: "",
      stderr: `coursepay: Redis at redis://127.0.0.1:${port} is unreachable: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
  });
});
