/**
 * The bench's output: one Markdown table (median [min–max] over the repeats, only runs that
 * passed the gate), the ratios, the targets as read from the figures, and the setup. Written to
 * stdout and to test/bench/results/ (<timestamp>.json, latest.json, latest.md).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ContenderKey } from "./contenders/registry.ts";
import { CONTENDERS } from "./contenders/registry.ts";
import { type Filesystem, type Machine, REPO_ROOT, type Versions } from "./environment.ts";
import type { MixName } from "./events.ts";
import { median, minMax } from "./measure.ts";
import {
  HELD_BACKLOG_SECONDS,
  HELD_GROWTH_FRACTION,
  type RunRecord,
  type StepPlan,
  type StepRecord,
} from "./runner.ts";

export const RESULTS_DIR = join(import.meta.dir, "results");

export interface BenchSettingsReport {
  repeats: number;
  seed: number;
  drainEvents: Partial<Record<ContenderKey, number>>;
  steps: StepPlan[];
  contenders: ContenderKey[];
  quick: boolean;
  coursepayEnv: string;
  redisServer: string;
  heldRule: string;
  latencyDefinition: string;
  /** The mix of every contender but (a0); absent in results from before reversals (payments). */
  mix?: MixName;
  /** The mix of (a0) (`--baseline-mix`); absent: payments. */
  baselineMix?: MixName;
}

export interface BenchResult {
  kind: "bench";
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  filesystem: Filesystem;
  versions: Versions;
  /** synchronous as read back from each contender's writing connection. */
  synchronous: Partial<Record<ContenderKey, string>>;
  settings: BenchSettingsReport;
  runs: RunRecord[];
}

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—");
const fmtMs = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : n.toFixed(0)) : "—");
const fmtRate = (n: number) =>
  n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : Number.isFinite(n) ? String(n) : "—";

function spread(values: number[], format: (n: number) => string): string {
  if (values.length === 0) return "—";
  const { min, max } = minMax(values);
  return min === max
    ? format(median(values))
    : `${format(median(values))} [${format(min)}–${format(max)}]`;
}

function passing(runs: RunRecord[], key: ContenderKey, mode: RunRecord["mode"]): RunRecord[] {
  return runs.filter((r) => r.contender === key && r.mode === mode && r.gate.pass);
}

function drainCell(runs: RunRecord[], key: ContenderKey): string {
  const ok = passing(runs, key, "drain");
  if (ok.length === 0) return "—";
  const events = ok[0]?.events ?? 0;
  let cell = `${spread(
    ok.map((r) => r.drain?.eventsPerSecond ?? Number.NaN),
    fmtInt,
  )} (${fmtInt(events)} events)`;
  const enqueue = ok
    .map((r) => r.drain?.enqueueEventsPerSecond ?? Number.NaN)
    .filter(Number.isFinite);
  if (enqueue.length > 0) cell += `; enqueue apart: ${spread(enqueue, fmtInt)}/s`;
  return cell;
}

function stepsAt(runs: RunRecord[], key: ContenderKey, rate: number): StepRecord[] {
  return passing(runs, key, "latency").flatMap((r) =>
    (r.steps ?? []).filter((s) => s.rate === rate),
  );
}

function latencyCell(runs: RunRecord[], key: ContenderKey, rate: number): string {
  const latencyRuns = passing(runs, key, "latency");
  if (latencyRuns.length === 0) return "—";
  const steps = stepsAt(runs, key, rate).filter((s) => s.latency !== undefined);
  if (steps.length === 0) return "not run (lower rate not held)";
  const pick = (f: (s: StepRecord) => number) => fmtMs(median(steps.map(f)));
  let cell = `${pick((s) => s.latency?.p50 ?? Number.NaN)}/${pick((s) => s.latency?.p99 ?? Number.NaN)}/${pick((s) => s.latency?.p999 ?? Number.NaN)}`;
  const held = steps.filter((s) => s.held).length;
  if (held < steps.length) cell += ` (held ${held}/${steps.length}†)`;
  return cell;
}

function maxHeld(run: RunRecord): number {
  return Math.max(0, ...(run.steps ?? []).filter((s) => s.held).map((s) => s.rate));
}

function maxHeldCell(runs: RunRecord[], key: ContenderKey, plan: StepPlan[]): string {
  const ok = passing(runs, key, "latency");
  if (ok.length === 0) return "—";
  const top = Math.max(...plan.map((p) => p.rate));
  const values = ok.map(maxHeld);
  const fmt = (n: number) => (n === 0 ? "none" : n === top ? `≥${fmtRate(n)}` : fmtRate(n));
  return `${spread(values, fmt)}/s`;
}

/** Peak RSS per repeat: the highest of that repeat's passing runs of the contender. */
function rssCell(runs: RunRecord[], key: ContenderKey): string {
  const byRepeat = new Map<number, number>();
  for (const r of runs) {
    if (r.contender !== key || !r.gate.pass || r.peakRssMb === undefined) continue;
    byRepeat.set(r.repeat, Math.max(byRepeat.get(r.repeat) ?? 0, r.peakRssMb));
  }
  return spread([...byRepeat.values()], (n) => n.toFixed(0));
}

function gateCell(runs: RunRecord[], key: ContenderKey): string {
  const mine = runs.filter((r) => r.contender === key);
  const failed = mine.filter((r) => !r.gate.pass).length;
  return failed === 0 ? `pass ${mine.length}/${mine.length}` : `**FAIL ${failed}/${mine.length}**`;
}

function medianDrain(runs: RunRecord[], key: ContenderKey): number {
  return median(passing(runs, key, "drain").map((r) => r.drain?.eventsPerSecond ?? Number.NaN));
}

function medianP99At(runs: RunRecord[], key: ContenderKey, rate: number): number {
  return median(stepsAt(runs, key, rate).map((s) => s.latency?.p99 ?? Number.NaN));
}

/** Expected on this machine (from the issue); a baseline far below is broken, not slow. */
const BASELINE_EXPECTED: Partial<Record<ContenderKey, number>> = { b: 2_000, d: 8_000 };

/**
 * (a-http)'s round trips, from its stats: HTTP requests and statements per event, and how
 * many statements a request carried, for the median-drain passing run.
 */
function roundTripLine(runs: RunRecord[]): string | undefined {
  const ok = passing(runs, "a-http", "drain").filter((r) => r.stats?.httpRequests !== undefined);
  if (ok.length === 0) return undefined;
  const sorted = [...ok].sort(
    (x, y) => (x.drain?.eventsPerSecond ?? 0) - (y.drain?.eventsPerSecond ?? 0),
  );
  const run = sorted[Math.floor((sorted.length - 1) / 2)] as RunRecord;
  const requests = Number(run.stats?.httpRequests);
  const statements = Number(run.stats?.statements);
  const perEvent = (n: number) => (n / run.events).toFixed(3);
  const a = medianDrain(runs, "a");
  const http = medianDrain(runs, "a-http");
  const ratio =
    Number.isFinite(a) && Number.isFinite(http) ? ` (a)/(a-http) = ${(a / http).toFixed(1)}×;` : "";
  return `Over HTTP (a-http, the median run): ${fmtInt(requests)} HTTP requests and ${fmtInt(statements)} statements for ${fmtInt(run.events)} events: ${perEvent(requests)} round trips and ${perEvent(statements)} statements per event, ${(statements / requests).toFixed(2)} statements per request;${ratio} every round trip is a statement of the batch's interactive transaction, so BATCH_SIZE sets how many events share them.`;
}

export function renderMarkdown(result: BenchResult): string {
  const { runs, settings } = result;
  const keys = settings.contenders;
  const rates = settings.steps.map((s) => s.rate);
  const lines: string[] = [];
  lines.push(
    `### coursepay benchmark — ${result.startedAt}${settings.quick ? " (QUICK smoke run: not for quoting)" : ""}`,
    "",
  );
  const header = [
    "contender",
    "drain events/s (median [min–max])",
    ...rates.map((r, i) => `${i === 0 ? "p50/p99/p99.9 ms " : ""}@${fmtRate(r)}/s`),
    "max rate held",
    "peak RSS MB",
    "gate",
  ];
  lines.push(`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`);
  for (const key of keys) {
    const latency =
      settings.steps.length > 0 && key !== "a-info" && key !== "a-http" && key !== "d1";
    lines.push(
      `| ${[
        CONTENDERS[key].label,
        drainCell(runs, key),
        ...rates.map((rate) => (latency ? latencyCell(runs, key, rate) : "not measured")),
        latency ? maxHeldCell(runs, key, settings.steps) : "not measured",
        rssCell(runs, key),
        gateCell(runs, key),
      ].join(" | ")} |`,
    );
  }
  lines.push("");

  const a = medianDrain(runs, "a");
  const ratio = (key: ContenderKey) => {
    const other = medianDrain(runs, key);
    return Number.isFinite(a) && Number.isFinite(other) ? a / other : Number.NaN;
  };
  const ratios = (["b", "d", "c", "d1"] as const)
    .filter((k) => keys.includes(k))
    .map((k) => `(a)/(${k}) = ${Number.isFinite(ratio(k)) ? `${ratio(k).toFixed(1)}×` : "—"}`);
  if (ratios.length > 0) lines.push(`Drain ratios (medians): ${ratios.join(", ")}.`, "");
  const overHttp = roundTripLine(runs);
  if (overHttp !== undefined) lines.push(overHttp, "");
  if (keys.includes("a0")) {
    const change = (ratio("a0") - 1) * 100;
    lines.push(
      `Before/after in this run (medians): (a0) ${fmtInt(medianDrain(runs, "a0"))}/s on the mix ${(settings.baselineMix ?? "payments") === "reversals" ? "with" : "without"} reversals, (a) ${fmtInt(a)}/s on the mix ${(settings.mix ?? "payments") === "reversals" ? "with them" : "without them too"}: ${Number.isFinite(change) ? `${change >= 0 ? "+" : ""}${change.toFixed(1)}%` : "—"}.`,
      "",
    );
  }

  for (const [key, expected] of Object.entries(BASELINE_EXPECTED) as [ContenderKey, number][]) {
    if (!keys.includes(key)) continue;
    const got = medianDrain(runs, key);
    if (Number.isFinite(got) && got < expected * 0.5) {
      lines.push(
        `**Warning:** (${key}) drains at ${fmtInt(got)}/s, far below the ~${fmtInt(expected)}/s expected on this machine: treat it as a broken baseline and do not quote its ratio.`,
        "",
      );
    }
  }

  if (keys.includes("a")) {
    const p99 = medianP99At(runs, "a", 5_000);
    const rss = median(
      [...new Set(runs.filter((r) => r.contender === "a").map((r) => r.repeat))].map((repeat) =>
        Math.max(
          ...runs
            .filter((r) => r.contender === "a" && r.repeat === repeat && r.gate.pass)
            .map((r) => r.peakRssMb ?? Number.NaN),
        ),
      ),
    );
    const mark = (ok: boolean | undefined) =>
      ok === undefined ? "n/a" : ok ? "met" : "**missed**";
    const target = (value: number, ok: (v: number) => boolean) =>
      mark(Number.isFinite(value) ? ok(value) : undefined);
    lines.push(
      "Targets (read from the figures above, medians):",
      "",
      `- drain ≥ 45,000 events/s (the mix with reversals, LOG_LEVEL=warn): ${fmtInt(a)}/s — ${target(a, (v) => v >= 45_000)}`,
      `- ≥ 10× (b): ${Number.isFinite(ratio("b")) ? `${ratio("b").toFixed(1)}×` : "—"} — ${target(ratio("b"), (v) => v >= 10)}`,
      `- ≥ 3× (d): ${Number.isFinite(ratio("d")) ? `${ratio("d").toFixed(1)}×` : "—"} — ${target(ratio("d"), (v) => v >= 3)}`,
      `- p99 ≤ 20 ms at 5,000 events/s offered: ${fmtMs(p99)} ms — ${target(p99, (v) => v <= 20)}`,
      `- worker peak RSS ≤ 150 MB: ${Number.isFinite(rss) ? rss.toFixed(0) : "—"} MB — ${target(rss, (v) => v <= 150)}`,
      "",
    );
  }

  const upper = keys
    .filter((k) => k === "a" || k === "b")
    .flatMap((k) =>
      rates.map((rate) => {
        const steps = stepsAt(runs, k, rate).filter((s) => s.latencyUpperBound !== undefined);
        if (steps.length === 0) return undefined;
        const p50 = median(steps.map((s) => s.latencyUpperBound?.p50 ?? Number.NaN));
        const p99 = median(steps.map((s) => s.latencyUpperBound?.p99 ?? Number.NaN));
        return `(${k}) @${fmtRate(rate)}: ${fmtMs(p50)}/${fmtMs(p99)}`;
      }),
    )
    .filter((s) => s !== undefined);

  lines.push(
    "How to read it:",
    "",
    `- Drain: the events are XADDed (or, for (d), enqueued with addBulk into a paused queue) before the clock starts; the worker is started and idle; the clock starts when the group is rewound to 0 and the last event is added (for (d): when the queue is resumed) and stops when the bench's 10 ms poll sees nothing undelivered and nothing pending (for (d): nothing waiting or active). Events per contender: ${Object.entries(
      settings.drainEvents,
    )
      .map(([k, n]) => `(${k}) ${fmtInt(n ?? 0)}`)
      .join(", ")}; rates are per second, so a smaller run is comparable.`,
    `- Latency: ${LATENCY_DEFINITION}`,
    settings.steps.length > 0
      ? `- Rate steps: ${settings.steps.map((s) => `${fmtRate(s.rate)}/s for ${s.seconds} s`).join(", ")}, one worker process per run, waiting for an empty backlog between steps; a step that is not held ends the run. ${settings.heldRule} † = not held in every repeat (its latencies then include queueing).`
      : "- Latency: not measured in this run (--skip-latency).",
    upper.length > 0
      ? `- Upper bound of the commit latency for the sequential workers (publish → start of the next batch, which comes after this batch's COMMIT and ACK), p50/p99 ms: ${upper.join("; ")}.`
      : "",
    "- Peak RSS: the worker process alone (VmHWM from /proc/<pid>/status, plus VmRSS sampled every 100 ms), the highest over the repeat's drain and latency runs.",
    "- Gate (after every run): enrollments = unique payments, active ones = unique payments − the payments reversed, processed rows = unique payments + reversals, payment rows (where the schema has them) = unique payments + the payments reversed ahead of the range, every enrollment's trace_id claimed, dead letters (`<stream>.dlq`, or BullMQ failed jobs) = invalid events, every entry delivered and nothing pending; a run that fails it gets no figure.",
    "",
    "Setup:",
    "",
    `- Machine: ${result.machine.cpuModel}, ${result.machine.cores} cores, ${result.machine.memoryGiB} GiB, ${result.machine.kernel}${result.machine.hypervisor ? `, hypervisor ${result.machine.hypervisor}` : ""}.`,
    `- Database files: ${result.filesystem.path} — filesystem ${result.filesystem.type} (${result.filesystem.df}, ${result.filesystem.mountOptions}); WAL; synchronous read back from each writing connection: ${Object.entries(
      result.synchronous,
    )
      .map(([k, v]) => `(${k}) ${v}`)
      .join(", ")}.`,
    `- Versions: coursepay ${result.versions.coursepay} (dist/coursepay, built from the working tree at that commit; HEAD when the bench started: ${result.versions.gitCommit}${result.versions.uncommittedSources.length > 0 ? `; built with uncommitted changes to ${result.versions.uncommittedSources.map((l) => l.trim().split(/\s+/).at(-1)).join(", ")}` : ""}), Bun ${result.versions.bun}, redis-server ${result.versions.redisServer}, ioredis ${result.versions.ioredis}, @libsql/client ${result.versions.libsqlClient} (SQLite ${result.versions.libsqlSqlite}), bullmq ${result.versions.bullmq}, drizzle-orm ${result.versions.drizzleOrm}.`,
    `- Redis: ${settings.redisServer}. Clients: the same ioredis settings everywhere (coursepay's createRedis/redisOptionsFromUrl).`,
    `- coursepay: ${settings.coursepayEnv}`,
    `- Mix: seed ${settings.seed}; ${
      (settings.mix ?? "payments") === "reversals"
        ? "~85% unique payments, ~5% replays of earlier trace_ids, ~5% refunds and chargebacks (half of them published before their payment), ~5% invalid"
        : "~90% unique payments, ~5% replays of earlier trace_ids, ~5% invalid (no reversals)"
    }${keys.includes("a0") && (settings.baselineMix ?? "payments") === "payments" ? "; (a0) gets the mix without reversals (~90% unique payments)" : ""}. Repeats: ${settings.repeats}, contenders alternating within each repeat.`,
  );
  return `${lines.filter((l, i, all) => !(l === "" && all[i - 1] === "")).join("\n")}\n`;
}

/**
 * Writes `<name>.json` and `<name>.md` (and the `latest` pair) under results/, formatted by the
 * project's Biome (it formats Markdown tables too), so `bun run lint` stays clean. Returns the
 * Markdown as written.
 */
export function writeResults(
  result: object,
  markdown: string,
  name: string,
  latest: string | undefined,
): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = `${JSON.stringify(result, null, 2)}\n`;
  const files = [name, latest]
    .filter((base) => base !== undefined)
    .flatMap((base) => {
      writeFileSync(join(RESULTS_DIR, `${base}.json`), json);
      writeFileSync(join(RESULTS_DIR, `${base}.md`), markdown);
      return [join(RESULTS_DIR, `${base}.json`), join(RESULTS_DIR, `${base}.md`)];
    });
  return formatWithBiome(files) ? readFileSync(join(RESULTS_DIR, `${name}.md`), "utf8") : markdown;
}

/** `biome format --write` on the files; false when Biome is not installed or fails. */
export function formatWithBiome(files: readonly string[]): boolean {
  const biome = join(REPO_ROOT, "node_modules", ".bin", "biome");
  if (!existsSync(biome)) return false;
  return Bun.spawnSync([biome, "format", "--write", ...files], {
    cwd: REPO_ROOT,
    stdout: "ignore",
    stderr: "ignore",
  }).success;
}

export const LATENCY_DEFINITION =
  "per unique payment, commit stamp − publish stamp. Publish stamp: the producer's wall clock in µs (performance.timeOrigin + performance.now()) when it hands the XADD (or addBulk) to the client, carried in the event as `published_at_us` and kept by the bench. Commit stamp: `processed_events.processed_at` (ms, Date.now()), which coursepay — and (b), (d) the same way — reads just before it opens the batch's write transaction (BEGIN IMMEDIATE, claim, enrollments, COMMIT): it undercounts by that transaction's duration and by up to 1 ms of truncation (hence a p50 slightly below 0 when the worker picks an event up within the millisecond it was sent). (c) has no database: its stamp is the reply to the XACK that settled the entry.";

export const HELD_RULE = `A rate is held when, over the second half of its step, the backlog (undelivered + pending entries; for (d) waiting + active jobs) grows by at most ${HELD_GROWTH_FRACTION * 100}% of the rate per second (least-squares slope of 250 ms samples) and at most ${HELD_BACKLOG_SECONDS} s worth of events is waiting when the step ends, with the producer offering ≥ 95% of the rate.`;
