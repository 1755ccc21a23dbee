/**
 * `bun run bench -- --soak`: memory under sustained load. One contender (coursepay by default)
 * gets a fixed rate for at least 60 s and at least 1,000,000 events; its RSS is sampled every
 * second. Flat means: the least-squares slope of RSS over the last half is ~0 (|slope| ≤
 * 5 MB/min: garbage collection alone moves a ~130 MB heap by a few MB either way, while a leak of
 * even 3 bytes per event at 30,000 events/s is 5.4 MB/min) and the final RSS is within 20% of
 * the RSS at 10 s. The backlog is watched too (a
 * soak above the sustainable rate measures the queue, not the worker), and the gate runs at the
 * end.
 */
import type { ContenderKey } from "./contenders/registry.ts";
import { CONTENDERS } from "./contenders/registry.ts";
import type { Filesystem, Machine, Versions } from "./environment.ts";
import { countMix } from "./events.ts";
import { describeFailures } from "./gate.ts";
import { sampleRss, slope } from "./measure.ts";
import { monitorBacklog, produceAtRate, Stamps, StreamSink } from "./producer.ts";
import { writeResults } from "./report.ts";
import {
  newRun,
  type RunSettings,
  type Started,
  startContender,
  stopContender,
} from "./run-process.ts";
import { gateFor, untilDrained } from "./runner.ts";

export const SLOPE_LIMIT_MB_PER_MIN = 5;
export const FINAL_WITHIN = 0.2;
const MIN_SECONDS = 60;
const MIN_EVENTS = 1_000_000;

export interface SoakOptions {
  settings: RunSettings;
  contenderKey: ContenderKey;
  rate: number;
  seconds: number | undefined;
  machine: Machine;
  filesystem: Filesystem;
  versions: Versions;
  synchronous: string;
  stamp: string;
}

export async function runSoak(options: SoakOptions): Promise<void> {
  const { settings, rate } = options;
  const contender = CONTENDERS[options.contenderKey];
  if (contender.transport !== "stream") throw new Error("the soak drives stream contenders only");
  const seconds = options.seconds ?? Math.max(MIN_SECONDS, Math.ceil(MIN_EVENTS / rate));
  const events = rate * seconds;
  const { redis, log } = settings;
  await redis.flushall();
  const { dir, context: run } = newRun(settings, contender, "soak");
  await redis.xgroup("CREATE", run.stream, run.group, "$", "MKSTREAM");
  const sink = new StreamSink(
    redis,
    run.stream,
    run.group,
    settings.seed,
    new Stamps(),
    contender.mix,
  );
  log(
    `soak ${contender.key}: ${rate}/s for ${seconds} s (${events.toLocaleString("en-US")} events)…`,
  );
  const started: Started = await startContender(contender, run, dir, redis);
  const rss = sampleRss(started.proc.pid, 1000);
  const backlog = monitorBacklog(sink, 1000);
  const produced = await produceAtRate(sink, 0, events, rate);
  rss.stop();
  backlog.stop();
  const drained = await untilDrained(sink, 300_000, 50);
  const stopped = await stopContender(started);
  const gate = await gateFor(
    settings,
    contender,
    run,
    undefined,
    countMix(settings.seed, 0, events, contender.mix),
    undefined,
  );

  const samples = rss.samples.map((s) => ({ atS: s.atMs / 1000, rssMb: s.rssKb / 1024 }));
  const at10 = samples.reduce(
    (best, s) => (Math.abs(s.atS - 10) < Math.abs(best.atS - 10) ? s : best),
    samples[0] ?? { atS: 0, rssMb: Number.NaN },
  );
  const final = samples.at(-1) ?? { atS: 0, rssMb: Number.NaN };
  const lastHalf = samples.filter((s) => s.atS >= produced.seconds / 2);
  const slopeMbPerMin = slope(lastHalf.map((s) => ({ x: s.atS / 60, y: s.rssMb })));
  const finalChange = (final.rssMb - at10.rssMb) / at10.rssMb;
  const flat =
    Math.abs(slopeMbPerMin) <= SLOPE_LIMIT_MB_PER_MIN && Math.abs(finalChange) <= FINAL_WITHIN;
  const backlogHalf = backlog.samples.filter((s) => s.at >= produced.seconds / 2);
  const backlogGrowth = slope(backlogHalf.map((s) => ({ x: s.at, y: s.backlog })));
  const rssValues = samples.map((s) => s.rssMb);
  const enough = produced.sent >= MIN_EVENTS && produced.seconds >= MIN_SECONDS;

  const lines = [
    `### coursepay soak — ${new Date().toISOString()}`,
    "",
    `Contender: ${contender.label}. Offered ${rate.toLocaleString("en-US")}/s for ${seconds} s: ${produced.sent.toLocaleString("en-US")} events in ${produced.seconds.toFixed(1)} s (${Math.round(produced.achievedRate).toLocaleString("en-US")}/s achieved)${enough ? "" : " — **fewer than 1,000,000 events or 60 s: not a valid soak**"}.`,
    "",
    "| RSS samples (1 s) | at 10 s | final | min | max | slope over last half | final vs 10 s | verdict |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    `| ${samples.length} | ${at10.rssMb.toFixed(1)} MB | ${final.rssMb.toFixed(1)} MB | ${Math.min(...rssValues).toFixed(1)} MB | ${Math.max(...rssValues).toFixed(1)} MB | ${slopeMbPerMin.toFixed(2)} MB/min | ${(finalChange * 100).toFixed(1)}% | ${flat ? "**flat**" : "**NOT flat**"} |`,
    "",
    `Flat = |slope| ≤ ${SLOPE_LIMIT_MB_PER_MIN} MB/min over the last half (this slope is ${((slopeMbPerMin * 2 ** 20) / 60 / rate).toFixed(2)} bytes per event) and final RSS within ${FINAL_WITHIN * 100}% of the RSS at 10 s. Peak RSS (VmHWM) ${(stopped.peakKb / 1024).toFixed(1)} MB.`,
    `Backlog over the last half: growth ${Math.round(backlogGrowth)}/s, at the end ${backlog.samples.at(-1)?.backlog ?? "—"} (${Math.abs(backlogGrowth) <= 0.02 * rate ? "rate held" : "**rate NOT held: lower --soak-rate**"}); drained after: ${drained ? "yes" : "NO"}. Gate: ${gate.pass ? "pass" : `**FAIL** (${describeFailures(gate)})`}.`,
    "",
    `RSS every 5 s (MB): ${samples
      .filter((_, i) => i % 5 === 0)
      .map((s) => s.rssMb.toFixed(0))
      .join(" ")}`,
    "",
    `Machine: ${options.machine.cpuModel}, ${options.machine.cores} cores; database on ${options.filesystem.type} (${options.filesystem.df}); synchronous=${options.synchronous}; coursepay ${options.versions.coursepay}.`,
  ];
  const markdown = `${lines.join("\n")}\n`;
  // A soak shorter than 60 s or 1,000,000 events is a smoke run: kept out of soak-latest.
  const written = writeResults(
    {
      kind: "soak",
      contender: contender.key,
      rate,
      seconds,
      produced,
      samples,
      rssAt10sMb: at10.rssMb,
      finalRssMb: final.rssMb,
      slopeMbPerMinLastHalf: slopeMbPerMin,
      finalVs10s: finalChange,
      flat,
      peakRssMb: stopped.peakKb / 1024,
      backlogSamples: backlog.samples,
      backlogGrowthPerSecondLastHalf: backlogGrowth,
      drained,
      gate,
      exitCode: stopped.exitCode,
      machine: options.machine,
      filesystem: options.filesystem,
      versions: options.versions,
      synchronous: options.synchronous,
    },
    markdown,
    enough ? `${options.stamp}-soak` : `${options.stamp}-soak-quick`,
    enough ? "soak-latest" : undefined,
  );
  process.stdout.write(written);
}
