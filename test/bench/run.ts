/**
 * `bun run bench [-- options]`: coursepay against its baselines, in one invocation. Progress
 * goes to stderr; the Markdown table to stdout and, with the JSON of every run, to
 * test/bench/results/. `--soak` runs the memory soak instead (see soak.ts).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createRedis } from "../../src/stream/redis-connection.ts";
import { startRedisOnFreePort, tempDir } from "../support/fixtures.ts";
import { BASELINE_BINARY_ENV, BASELINE_MIX_ENV } from "./contenders/coursepay.ts";
import { benchMix, CONTENDERS, type ContenderKey, MIX_ENV } from "./contenders/registry.ts";
import {
  describeFilesystem,
  describeMachine,
  describeVersions,
  ensureBinary,
  migrateWithBinary,
  probeCoursepaySynchronous,
  REPO_ROOT,
  sqliteVersion,
} from "./environment.ts";
import { renderFlood, runFlood } from "./flood.ts";
import { latencyRun } from "./latency-run.ts";
import {
  type BenchResult,
  formatWithBiome,
  HELD_RULE,
  LATENCY_DEFINITION,
  RESULTS_DIR,
  renderMarkdown,
  writeResults,
} from "./report.ts";
import type { RunSettings } from "./run-process.ts";
import { drainRun, type RunRecord, type StepPlan } from "./runner.ts";
import { runSoak } from "./soak.ts";

const HELP = `Usage: bun run bench [-- options]

  --repeats N          repeats, contenders alternating within each (default 3)
  --events N           drain events for (a), (a'), (c), (d) (default 200000)
  --events-b N         drain events for (b) and (d1), one transaction per event (default 20000)
  --events-d N         drain events for (d), BullMQ (default: --events)
  --only a,b,c,d       contenders to run (default a,b,c,d). Drain-only companions run with
                       them: (a') = a-info, coursepay at LOG_LEVEL=info, and a-http, coursepay
                       on a database served over HTTP by the Hrana test server on loopback
                       (its HTTP requests counted), with a; (d1), BullMQ with one transaction
                       per job, with d. \`--quick --only a-http\` runs that row alone.
  --no-extras          skip those companions (a-info, a-http, d1)
  --mix reversals|payments   the mix of every contender but (a0): with refunds and
                       chargebacks (default) or without, as before they existed
  --baseline FILE      also drain (a0): the coursepay binary FILE (e.g. one built before a
                       change), alternating with (a) in each repeat, on the mix without
                       reversals; its database is migrated by FILE itself
  --baseline-mix reversals|payments   the mix of (a0): payments (default), for a binary from
                       before reversals; reversals, to compare two builds that have them
  --rates 1000,5000,20000   latency rate steps, events/s (default)
  --step-seconds S     seconds per rate step (default 20)
  --skip-latency       drain only
  --quick              smoke run: 1 repeat, 20000 events ((b) 5000), steps 1000,5000 × 5 s
  --seed N             event mix seed (default 42)
  --keep               keep every run's folder (database, logs) under test/bench/.work/
  --report FILE        re-render the table of a saved results JSON (no run); with
                       --write, also rewrite its .md (and latest.md if it is latest.json)
  --soak               the memory soak instead (coursepay only): see --soak-rate/--soak-seconds
  --soak-rate R        events/s for the soak (default 30000)
  --soak-seconds S     soak duration (default: enough for 1,000,000 events, at least 60)
  --flood              peak memory while draining small, near-limit and oversized entries
  --help`;

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    repeats: { type: "string" },
    events: { type: "string" },
    "events-b": { type: "string" },
    "events-d": { type: "string" },
    only: { type: "string" },
    "no-extras": { type: "boolean" },
    rates: { type: "string" },
    "step-seconds": { type: "string" },
    "skip-latency": { type: "boolean" },
    quick: { type: "boolean" },
    seed: { type: "string" },
    keep: { type: "boolean" },
    soak: { type: "boolean" },
    flood: { type: "boolean" },
    "soak-rate": { type: "string" },
    "soak-seconds": { type: "string" },
    report: { type: "string" },
    baseline: { type: "string" },
    mix: { type: "string" },
    "baseline-mix": { type: "string" },
    write: { type: "boolean" },
    help: { type: "boolean" },
  },
  strict: true,
  allowPositionals: false,
});

if (values.help) {
  console.log(HELP);
  process.exit(0);
}

if (values.report !== undefined) {
  const file = values.report;
  const saved = JSON.parse(readFileSync(file, "utf8")) as BenchResult;
  const markdown = renderMarkdown(saved);
  process.stdout.write(markdown);
  if (values.write) {
    const written = [file.replace(/\.json$/, ".md")];
    if (resolve(file) === resolve(RESULTS_DIR, "latest.json")) {
      written.push(join(RESULTS_DIR, "latest.md"));
    }
    for (const path of written) writeFileSync(path, markdown);
    formatWithBiome(written);
  }
  process.exit(0);
}

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`--${name} must be a positive integer, got ${raw}`);
    process.exit(2);
  }
  return n;
}

const quick = values.quick === true;
const repeats = positiveInt("repeats", values.repeats, quick ? 1 : 3);
const events = positiveInt("events", values.events, quick ? 20_000 : 200_000);
const eventsB = positiveInt("events-b", values["events-b"], quick ? 5_000 : 20_000);
const eventsD = positiveInt("events-d", values["events-d"], events);
const stepSeconds = positiveInt("step-seconds", values["step-seconds"], quick ? 5 : 20);
const rates = (values.rates ?? (quick ? "1000,5000" : "1000,5000,20000"))
  .split(",")
  .map((r) => positiveInt("rates", r, 0));
const seed = positiveInt("seed", values.seed, 42);
const only = (values.only ?? "a,b,c,d").split(",").map((s) => s.trim());
for (const key of only) {
  if (!Object.hasOwn(CONTENDERS, key)) {
    console.error(`--only: unknown contender ${key} (a, a0, a-info, a-http, b, c, d, d1)`);
    process.exit(2);
  }
}
const COMPANIONS: Record<string, string[]> = { a: ["a-info", "a-http"], d: ["d1"] };
const drainKeys = only.flatMap((k) => {
  const companions = values["no-extras"] === true ? [] : (COMPANIONS[k] ?? []);
  return [k, ...companions.filter((companion) => !only.includes(companion))];
}) as ContenderKey[];
if (values.mix !== undefined) {
  if (values.mix !== "reversals" && values.mix !== "payments") {
    console.error(`--mix: expected reversals or payments, got ${values.mix}`);
    process.exit(2);
  }
  process.env[MIX_ENV] = values.mix;
}
if (values.baseline !== undefined) {
  if (!existsSync(values.baseline)) {
    console.error(`--baseline: no file ${values.baseline}`);
    process.exit(2);
  }
  process.env[BASELINE_BINARY_ENV] = resolve(values.baseline);
  const baselineMix = values["baseline-mix"] ?? "payments";
  if (baselineMix !== "reversals" && baselineMix !== "payments") {
    console.error(`--baseline-mix: expected reversals or payments, got ${baselineMix}`);
    process.exit(2);
  }
  process.env[BASELINE_MIX_ENV] = baselineMix;
  if (!drainKeys.includes("a0")) drainKeys.unshift("a0");
}
const DRAIN_ONLY = new Set(["a-info", "a-http", "d1"]);
const latencyKeys = (
  values["skip-latency"] ? [] : only.filter((k) => !DRAIN_ONLY.has(k))
) as ContenderKey[];
const steps: StepPlan[] = rates.map((rate) => ({ rate, seconds: stepSeconds }));
const drainEvents: Partial<Record<ContenderKey, number>> = Object.fromEntries(
  drainKeys.map((k) => [k, k === "b" || k === "d1" ? eventsB : k === "d" ? eventsD : events]),
);

const log = (line: string) => process.stderr.write(`${line}\n`);
const startedAt = new Date();
const stamp = startedAt.toISOString().replace(/[:.]/g, "-");

if (ensureBinary()) log("built dist/coursepay (it was missing or older than its sources)");
const machine = describeMachine();
const workRoot = join(REPO_ROOT, "test", "bench", ".work", stamp);
mkdirSync(workRoot, { recursive: true });
const filesystem = describeFilesystem(workRoot);
const versions = describeVersions();
versions.libsqlSqlite = await sqliteVersion();
if (filesystem.type === "tmpfs" || filesystem.type === "ramfs") {
  log(
    `WARNING: ${workRoot} is on ${filesystem.type}: fsync is free there, the figures would flatter every database contender.`,
  );
}

const server = await startRedisOnFreePort(tempDir("bench-redis"));
const redis = createRedis(server.url, { connectionName: "bench" });
await redis.connect();
const settings: RunSettings = {
  redis,
  redisUrl: server.url,
  seed,
  workRoot,
  keepFiles: values.keep === true,
  log,
};

log(
  `machine: ${machine.cpuModel}, ${machine.cores} cores; database folder ${workRoot}: ${filesystem.type} (${filesystem.df})`,
);
const probePath = join(workRoot, "probe", "coursepay.db");
mkdirSync(join(workRoot, "probe"), { recursive: true });
migrateWithBinary(probePath);
const coursepaySynchronous = await probeCoursepaySynchronous(probePath, server.url);
log(
  `coursepay ${versions.coursepay}: synchronous=${coursepaySynchronous} (read back by its writing connection)`,
);

if (values.flood) {
  const table = renderFlood(await runFlood(redis, server.url, log));
  process.stdout.write(table);
  const floodFile = join(RESULTS_DIR, "flood-latest.md");
  writeFileSync(
    floodFile,
    `# Peak memory while draining (bun run bench -- --flood), ${startedAt.toISOString()}\n\n${table}`,
  );
  formatWithBiome([floodFile]);
  redis.disconnect();
  await server.stop();
  process.exit(0);
}

if (values.soak) {
  await runSoak({
    settings,
    contenderKey: (only[0] ?? "a") as ContenderKey,
    rate: positiveInt("soak-rate", values["soak-rate"], 30_000),
    seconds:
      values["soak-seconds"] === undefined
        ? undefined
        : positiveInt("soak-seconds", values["soak-seconds"], 60),
    machine,
    filesystem,
    versions,
    synchronous: coursepaySynchronous,
    stamp,
  });
  await shutdown();
  process.exit(0);
}

const runs: RunRecord[] = [];
const describe = (r: RunRecord) => {
  const gate = r.gate.pass ? "gate ok" : "GATE FAILED";
  const figure =
    r.mode === "drain" && r.drain
      ? `${Math.round(r.drain.eventsPerSecond).toLocaleString("en-US")} events/s in ${r.drain.seconds.toFixed(2)} s`
      : (r.steps ?? [])
          .map(
            (s) =>
              `${s.rate}/s p99 ${s.latency?.p99?.toFixed(1) ?? "—"} ms${s.held ? "" : " (not held)"}`,
          )
          .join(", ");
  return `${figure}; peak RSS ${r.peakRssMb ?? "—"} MB; ${gate}${r.error ? ` (${r.error})` : ""}`;
};
for (let repeat = 1; repeat <= repeats; repeat++) {
  for (const key of drainKeys) {
    const n = drainEvents[key] ?? events;
    log(`repeat ${repeat}/${repeats} drain ${key} (${n} events)…`);
    const record = await drainRun(settings, CONTENDERS[key], n, repeat);
    runs.push(record);
    log(`  ${describe(record)}`);
    await Bun.sleep(1000);
  }
  for (const key of latencyKeys) {
    log(`repeat ${repeat}/${repeats} latency ${key} (${rates.join(", ")}/s × ${stepSeconds} s)…`);
    const record = await latencyRun(settings, CONTENDERS[key], steps, repeat);
    runs.push(record);
    log(`  ${describe(record)}`);
    await Bun.sleep(1000);
  }
}

const synchronous: BenchResult["synchronous"] = {};
for (const key of drainKeys) {
  if (key === "a" || key === "a-info" || key === "a0") synchronous[key] = coursepaySynchronous;
  else if (key === "a-http") {
    const reported = runs.find((r) => r.contender === key && r.stats?.serverSynchronous);
    synchronous[key] =
      `${String(reported?.stats?.serverSynchronous ?? "unknown")} (the test server's own; coursepay sends no pragma to a remote database)`;
  } else if (!CONTENDERS[key].usesDatabase) synchronous[key] = "n/a (no database)";
  else {
    const reported = runs.find((r) => r.contender === key && r.ready?.synchronous !== undefined);
    synchronous[key] = String(reported?.ready?.synchronous ?? "unknown");
  }
}

const result: BenchResult = {
  kind: "bench",
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  machine,
  filesystem,
  versions,
  synchronous,
  settings: {
    repeats,
    seed,
    drainEvents,
    steps: latencyKeys.length > 0 ? steps : [],
    contenders: drainKeys,
    quick,
    coursepayEnv:
      "dist/coursepay serve with REDIS_URL, DATABASE_URL=file:<abs>, EVENT_STREAM, CONSUMER_GROUP, CONSUMER_NAME, LOG_LEVEL=warn (info for (a')), LOG_FORMAT=json; everything else default (BATCH_SIZE 500, BLOCK_MS 2000); stdout/stderr to files in the run folder.",
    redisServer: `dedicated redis-server on 127.0.0.1:${server.port} (--save "" --appendonly no), FLUSHALL before each run`,
    heldRule: HELD_RULE,
    latencyDefinition: LATENCY_DEFINITION,
    mix: benchMix(),
    baselineMix: process.env[BASELINE_MIX_ENV] === "reversals" ? "reversals" : "payments",
  },
  runs,
};
process.stdout.write(
  writeResults(
    result,
    renderMarkdown(result),
    quick ? `${stamp}-quick` : stamp,
    quick ? undefined : "latest",
  ),
);
log(
  `results: test/bench/results/${quick ? `${stamp}-quick` : stamp}.json${quick ? "" : " (and latest.json, latest.md)"}`,
);
await shutdown();
process.exit(runs.every((r) => r.gate.pass) ? 0 : 1);

async function shutdown() {
  await redis.quit().catch(() => redis.disconnect());
  await server.stop();
}
