/**
 * `bun run bench -- --flood`: the worker's peak memory while it drains entries of a given size,
 * for the formula in the README (Performance → Memory). Each case preloads its entries, starts
 * the compiled binary (defaults: BATCH_SIZE 500, MAX_EVENT_BYTES 65536), samples its RSS every
 * 50 ms until everything is settled, and checks the dead letters: one per bad entry, none over
 * 1 MB. The cases:
 * - payments: small valid payments (the baseline);
 * - near the limit: invalid entries just under MAX_EVENT_BYTES, read whole, a batch at a time;
 * - oversized: entries far over MAX_EVENT_BYTES, cut to a prefix inside Redis, hashed one at a time.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type Redis from "ioredis";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { deadLetterStreamName } from "../../src/stream/dead-letters.ts";
import { BINARY, REPO_ROOT } from "./environment.ts";
import { readMemory, sampleRss } from "./measure.ts";

interface FloodCase {
  name: string;
  entries: number;
  /** Bytes of the `data` value of each entry. */
  entryBytes: number;
  /** Entries that must become dead letters. */
  bad: boolean;
}

const CASES: FloodCase[] = [
  { name: "payments (~200 B)", entries: 20_000, entryBytes: 200, bad: false },
  { name: "near the limit (60 KiB, invalid)", entries: 2_000, entryBytes: 60 * 1024, bad: true },
  { name: "oversized (256 KiB, too_large)", entries: 2_000, entryBytes: 256 * 1024, bad: true },
];

export interface FloodRow {
  name: string;
  entries: number;
  entryBytes: number;
  idleRssMb: number;
  peakRssMb: number;
  seconds: number;
  deadLetters: number;
  largestDeadLetterBytes: number;
}

export async function runFlood(redis: Redis, redisUrl: string, log: (line: string) => void) {
  const rows: FloodRow[] = [];
  for (const floodCase of CASES) rows.push(await runCase(redis, redisUrl, floodCase, log));
  return rows;
}

async function runCase(
  redis: Redis,
  redisUrl: string,
  floodCase: FloodCase,
  log: (line: string) => void,
): Promise<FloodRow> {
  await redis.flushall();
  const stream = "flood";
  const dir = join(REPO_ROOT, "test", "bench", ".work", `flood-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  log(`flood: ${floodCase.name} × ${floodCase.entries}…`);
  await redis.xgroup("CREATE", stream, "course_factory", "0", "MKSTREAM");
  const proc = Bun.spawn([BINARY, "serve"], {
    env: {
      PATH: process.env.PATH ?? "",
      REDIS_URL: redisUrl,
      DATABASE_URL: `file:${join(dir, "flood.db")}`,
      EVENT_STREAM: stream,
      CONSUMER_NAME: "flood",
      LOG_LEVEL: "error",
      LOG_FORMAT: "json",
      TMPDIR: dir,
    },
    stdout: "ignore",
    stderr: "ignore",
  });
  try {
    // Idle: up and waiting on an empty stream; then the flood arrives.
    await Bun.sleep(2_000);
    const idleKb = readMemory(proc.pid)?.rssKb ?? 0;
    const rss = sampleRss(proc.pid, 50);
    const started = performance.now();
    await preload(redis, stream, floodCase);
    await untilSettled(redis, stream, floodCase.entries);
    const seconds = (performance.now() - started) / 1000;
    rss.stop();
    const letters = await redis.xrange(deadLetterStreamName(stream), "-", "+");
    const largest = Math.max(
      0,
      ...letters.map(([, fields]) => fields.reduce((n, f) => n + Buffer.byteLength(f), 0)),
    );
    const expected = floodCase.bad ? floodCase.entries : 0;
    if (letters.length !== expected) {
      throw new Error(`${floodCase.name}: ${letters.length} dead letters, expected ${expected}`);
    }
    if (largest >= 1024 * 1024) throw new Error(`${floodCase.name}: a dead letter of ${largest} B`);
    return {
      name: floodCase.name,
      entries: floodCase.entries,
      entryBytes: floodCase.entryBytes,
      idleRssMb: idleKb / 1024,
      peakRssMb: rss.peakKb() / 1024,
      seconds,
      deadLetters: letters.length,
      largestDeadLetterBytes: largest,
    };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function preload(redis: Redis, stream: string, floodCase: FloodCase): Promise<void> {
  const filler = "\u0001x"
    .repeat(Math.ceil(floodCase.entryBytes / 2))
    .slice(0, floodCase.entryBytes);
  for (let i = 0; i < floodCase.entries; i += 100) {
    const pipeline = redis.pipeline();
    for (let j = i; j < Math.min(i + 100, floodCase.entries); j++) {
      if (floodCase.bad) {
        pipeline.xadd(stream, "*", "data", `{"trace_id":"evt_${j}","padding":"${filler}`);
      } else {
        const envelope = {
          event_type: "paycore.payment_succeeded",
          trace_id: `evt_${j}`,
          tenant_id: "t",
          user_id: `u${j}`,
          metadata: { course_id: "c1" },
        };
        pipeline.xadd(stream, "*", ...encodeDataForm(envelope));
      }
    }
    await pipeline.exec();
  }
}

async function untilSettled(redis: Redis, stream: string, entries: number): Promise<void> {
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const groups = (await redis.xinfo("GROUPS", stream)) as unknown[][];
    const fields = groups[0] ?? [];
    const get = (name: string) => fields[fields.indexOf(name) + 1];
    if (Number(get("entries-read")) >= entries && Number(get("pending")) === 0) return;
    await Bun.sleep(50);
  }
  throw new Error("flood: not settled within 300 s");
}

export function renderFlood(rows: readonly FloodRow[]): string {
  const lines = [
    "| entries | count | idle RSS MB | peak RSS MB | peak − idle MB | drained in s | dead letters (largest B) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.name} | ${row.entries} | ${row.idleRssMb.toFixed(0)} | ${row.peakRssMb.toFixed(0)} | ${(row.peakRssMb - row.idleRssMb).toFixed(0)} | ${row.seconds.toFixed(1)} | ${row.deadLetters} (${row.largestDeadLetterBytes}) |`,
    );
  }
  return `${lines.join("\n")}\n`;
}
