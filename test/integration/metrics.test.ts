import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Config } from "../../src/config/config.ts";
import { encodeDataForm } from "../../src/contract/wire-format.ts";
import { type HttpServer, startHttpServer } from "../../src/observe/http-server.ts";
import { silentLogger } from "../../src/observe/logger.ts";
import { WorkerMetrics } from "../../src/observe/metrics.ts";
import { startWorker, type StartedWorker as Worker } from "../../src/worker.ts";
import { uniqueName } from "../support/fixtures.ts";
import {
  publishFields,
  publishPayment,
  testConfig,
  testRedis,
  waitFor,
  waitUntilDrained,
} from "../support/worker-harness.ts";

const redis = testRedis();
afterAll(() => redis.disconnect());

function metricsFor(config: Config, worker: () => Worker | undefined): WorkerMetrics {
  return new WorkerMetrics({
    stream: config.eventStream,
    group: config.consumerGroup,
    redis: () => worker()?.redis,
    database: () => worker()?.database,
  });
}

/** The sample lines (no comments) of an exposition whose name starts with `prefix`. */
function samples(text: string, prefix: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(prefix));
}

describe("metrics after a known set of events", () => {
  let config: Config;
  let worker: Worker | undefined;
  let server: HttpServer;
  let text: string;

  // 3 payments applied, one of them published again (duplicate), one entry that is not JSON
  // (invalid) and one event of a type no subscriber handles (ignored): 6 entries.
  beforeAll(async () => {
    config = testConfig();
    const metrics = metricsFor(config, () => worker);
    worker = await startWorker(config, silentLogger(), metrics);
    server = startHttpServer({
      hostname: "127.0.0.1",
      port: 0,
      metrics,
      worker: () => worker,
      logger: silentLogger(),
    });
    const first = { trace_id: uniqueName("evt"), user_id: "u1" };
    await publishPayment(redis, config.eventStream, first);
    await publishPayment(redis, config.eventStream, { trace_id: uniqueName("evt"), user_id: "u2" });
    await publishPayment(redis, config.eventStream, { trace_id: uniqueName("evt"), user_id: "u3" });
    await publishPayment(redis, config.eventStream, first);
    await publishFields(redis, config.eventStream, ["data", "{not json"]);
    await publishFields(
      redis,
      config.eventStream,
      encodeDataForm({
        event_type: "paycore.refund_issued",
        trace_id: uniqueName("evt"),
        tenant_id: "t1",
        user_id: "u1",
        metadata: {},
      }),
    );
    await waitUntilDrained(redis, config);
    // The consumer reports a batch just after its ACK: wait until all 6 entries are counted.
    await waitFor("the metrics to count 6 entries", async () => {
      text = await (await fetch(new URL("/metrics", server.url))).text();
      return text.includes("\ncoursepay_batch_size_sum 6\n");
    });
  });

  afterAll(async () => {
    await server?.stop();
    await worker?.stop();
  });

  test("events received are counted by event type", () => {
    expect(samples(text, "coursepay_events_received_total").sort()).toEqual([
      'coursepay_events_received_total{event_type="paycore.payment_succeeded"} 4',
      'coursepay_events_received_total{event_type="paycore.refund_issued"} 1',
      'coursepay_events_received_total{event_type="unknown"} 1',
    ]);
  });

  test("outcomes are counted by event type and subscriber, 'none' before any subscriber", () => {
    expect(samples(text, "coursepay_event_outcomes_total").sort()).toEqual([
      'coursepay_event_outcomes_total{event_type="paycore.payment_succeeded",subscriber="course_payment_subscriber",outcome="applied"} 3',
      'coursepay_event_outcomes_total{event_type="paycore.payment_succeeded",subscriber="course_payment_subscriber",outcome="duplicate"} 1',
      'coursepay_event_outcomes_total{event_type="paycore.refund_issued",subscriber="none",outcome="ignored"} 1',
      'coursepay_event_outcomes_total{event_type="unknown",subscriber="none",outcome="invalid"} 1',
    ]);
  });

  test("histograms observe every entry and every batch", () => {
    expect(samples(text, "coursepay_event_processing_seconds_count")).toEqual([
      "coursepay_event_processing_seconds_count 6",
    ]);
    const batches = samples(text, "coursepay_batch_size_count")[0]?.split(" ")[1];
    expect(Number(batches)).toBeGreaterThanOrEqual(1);
    expect(samples(text, "coursepay_batch_duration_seconds_count")).toEqual([
      `coursepay_batch_duration_seconds_count ${batches}`,
    ]);
  });

  test("stream gauges are read from Redis at scrape time", () => {
    for (const line of [
      "coursepay_stream_length 6",
      "coursepay_group_lag 0",
      "coursepay_group_pending 0",
      "coursepay_group_oldest_pending_idle_seconds 0",
      "coursepay_group_oldest_pending_age_seconds 0",
      "coursepay_dead_letters 1",
      "coursepay_redis_up 1",
      "coursepay_database_up 1",
    ]) {
      expect(text.split("\n")).toContain(line);
    }
  });

  test("dead letters written are counted by reason", () => {
    expect(samples(text, "coursepay_dead_letters_written_total")).toEqual([
      'coursepay_dead_letters_written_total{reason="invalid_json"} 1',
    ]);
  });

  test("the processing latency buckets start at 0.5 ms", () => {
    const bounds = samples(text, "coursepay_event_processing_seconds_bucket").map(
      (line) => /le="([^"]+)"/.exec(line)?.[1],
    );
    expect(bounds.slice(0, 3)).toEqual(["0.0005", "0.001", "0.0025"]);
    expect(bounds.at(-1)).toBe("+Inf");
  });

  test("build info and the process metrics are there; the gauges promtool rejects are not", () => {
    const [info] = samples(text, "coursepay_build_info");
    expect(info).toMatch(/^coursepay_build_info\{version="[^"+]+",commit="[^"]+",bun="[^"]+"\} 1$/);
    expect(info).toContain(`bun="${Bun.version}"`);
    const rss = Number(samples(text, "process_resident_memory_bytes ")[0]?.split(" ")[1]);
    expect(rss).toBeGreaterThan(1024 * 1024);
    expect(samples(text, "process_cpu_seconds_total ")).toHaveLength(1);
    expect(text).toContain("# TYPE nodejs_active_handles gauge");
    expect(text).not.toContain("nodejs_active_handles_total");
    expect(text).not.toContain("nodejs_active_requests_total");
    expect(text).not.toContain("nodejs_active_resources_total");
  });

  test("a dead letter written after the last batch shows at the next scrape", async () => {
    await redis.xadd(`${config.eventStream}.dlq`, "*", "reason", "conflict");
    const next = await (await fetch(new URL("/metrics", server.url))).text();
    expect(next.split("\n")).toContain("coursepay_dead_letters 2");
  });
});

describe("WorkerMetrics", () => {
  test("each instance has its own registry; without a worker no stream figures are made up, and the _up gauges say 0", async () => {
    const config = testConfig();
    const first = metricsFor(config, () => undefined);
    const second = metricsFor(config, () => undefined);
    const [a, b] = await Promise.all([first.render(), second.render()]);
    expect(a.contentType).toStartWith("text/plain; version=0.0.4");
    // The same coursepay_ figures; the process metrics (RSS, heap) move between the two reads.
    expect(samples(a.body, "coursepay_")).toEqual(samples(b.body, "coursepay_"));
    expect(a.body).toContain("# TYPE coursepay_group_lag gauge");
    expect(samples(a.body, "coursepay_group_lag")).toEqual([]);
    // An `== 0` alert must fire while the worker cannot reach Redis or the database.
    expect(samples(a.body, "coursepay_redis_up")).toEqual(["coursepay_redis_up 0"]);
    expect(samples(a.body, "coursepay_database_up")).toEqual(["coursepay_database_up 0"]);
  });
});
