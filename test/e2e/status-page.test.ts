/**
 * The status page in a real browser (Debian's headless Chromium, driven by playwright-core)
 * against a real `coursepay serve` and a real Redis: after a known set of events the page shows
 * the figures /metrics shows, loads nothing from elsewhere, breaks no CSP rule, refreshes by
 * itself, and its screenshot is kept as a CI artifact (test-artifacts/status-page.png).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import type { Config } from "../../src/config/config.ts";
import { STATUS_PAGE_CSP } from "../../src/observe/status-page.ts";
import { REPO_ROOT } from "../support/binary.ts";
import { freePort, uniqueName } from "../support/fixtures.ts";
import { publishKnownSet, waitForSpawnedDrain } from "../support/known-events.ts";
import {
  killSpawnedWorkers,
  publishPayment,
  spawnWorker,
  testConfig,
  testRedis,
  waitFor,
} from "../support/worker-harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = join(REPO_ROOT, "test-artifacts", "status-page.png");

/** One sample's value in an exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The sum of a counter's samples whose labels include `label`. */
function sumWhere(text: string, name: string, label: string): number {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && line.includes(label))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

describe("the status page in headless Chromium", () => {
  const redis = testRedis();
  let config: Config;
  let origin: string;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const problems: string[] = [];
  let worker: ReturnType<typeof spawnWorker>;

  const metrics = async () => (await fetch(`${origin}/metrics`)).text();
  const figure = async (id: string) => page.getAttribute(`#${id}`, "data-value");
  const outcomeOnPage = async (outcome: string) =>
    Number(await page.getAttribute(`#legend li[data-outcome="${outcome}"]`, "data-value"));

  // 3 payments (one of them published twice), an entry that is not JSON (a dead letter) and an
  // event no subscriber handles: applied 3, duplicate 1, invalid 1, ignored 1.
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run .ci/setup`);
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    config = testConfig();
    worker = spawnWorker(config, { HTTP_PORT: String(port) });
    const entries = await publishKnownSet(redis, config.eventStream, 3);
    await waitForSpawnedDrain(worker, redis, config);
    await waitFor(`/metrics to count the ${entries} entries`, async () =>
      (await metrics().catch(() => "")).includes(
        `\ncoursepay_event_processing_seconds_count ${entries}\n`,
      ),
    );

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.on("request", (request) => requests.push(request.url()));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`${origin}/`);
    await page.waitForSelector('#ready[data-value="true"]', { timeout: 15_000 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    killSpawnedWorkers();
    redis.disconnect();
  });

  test("is served with a strict CSP, and loads only its own script, stylesheet and JSON", async () => {
    const response = await fetch(`${origin}/`);
    expect(response.headers.get("content-security-policy")).toBe(STATUS_PAGE_CSP);
    expect(STATUS_PAGE_CSP).toContain("default-src 'none'");
    expect(STATUS_PAGE_CSP).not.toContain("unsafe");
    const paths = new Set(requests.map((url) => new URL(url).pathname));
    for (const path of ["/", "/status.css", "/status.js", "/status.json"])
      expect(paths).toContain(path);
    const own = new Set(["/", "/status.css", "/status.js", "/status.json", "/favicon.svg"]);
    expect([...paths].filter((path) => !own.has(path))).toEqual([]);
    expect(requests.every((url) => url.startsWith(`${origin}/`))).toBe(true);
    expect(problems).toEqual([]);
    // The stylesheet applied (it would not under a CSP that blocked it): the badge is coloured.
    const background = await page.evaluate(
      "getComputedStyle(document.getElementById('ready')).backgroundColor",
    );
    expect(background).toBe("rgb(26, 127, 55)");
  });

  test("its figures match /metrics after the known set of events", async () => {
    const text = await metrics();
    expect(await figure("lag")).toBe(String(sample(text, "coursepay_group_lag")));
    expect(await figure("pending")).toBe(String(sample(text, "coursepay_group_pending")));
    expect(await figure("pending")).toBe("0");
    expect(await figure("oldest-pending-age")).toBe(
      String(sample(text, "coursepay_group_oldest_pending_age_seconds")),
    );
    expect(await figure("consumers")).toBe(String(sample(text, "coursepay_group_consumers")));
    expect(await figure("consumers")).toBe("1");
    expect(await figure("dead-letters")).toBe(String(sample(text, "coursepay_dead_letters")));
    expect(await figure("stream-length")).toBe(String(sample(text, "coursepay_stream_length")));
    for (const outcome of ["applied", "duplicate", "invalid", "ignored", "conflict"]) {
      expect({ outcome, page: await outcomeOnPage(outcome) }).toEqual({
        outcome,
        page: sumWhere(text, "coursepay_event_outcomes_total", `outcome="${outcome}"`),
      });
    }
    expect(await outcomeOnPage("applied")).toBe(3);
    const reasons = await page.$$eval("#dead-letters-by-reason tbody tr[data-reason]", (rows) =>
      rows.map((row) => [row.getAttribute("data-reason"), row.getAttribute("data-value")]),
    );
    expect(reasons).toEqual([
      [
        "invalid_json",
        String(sample(text, 'coursepay_dead_letters_written_total{reason="invalid_json"}')),
      ],
    ]);
    expect(reasons).toEqual([["invalid_json", "1"]]);
    // Ages move between two reads: the page's and /metrics' agree within the 2 s refresh.
    for (const [id, series] of [
      ["last-commit", "coursepay_seconds_since_last_commit"],
      ["last-read", "coursepay_seconds_since_last_read"],
    ] as const) {
      const onPage = Number(await figure(id));
      expect(Math.abs(onPage - (sample(text, series) ?? Number.NaN))).toBeLessThan(3);
    }
    // The chart draws one bar per outcome and slot that had any: at least one.
    expect(await page.$$eval("#throughput rect", (bars) => bars.length)).toBeGreaterThanOrEqual(1);
    expect(await page.getAttribute("#throughput", "data-total")).toBe("6");
  });

  test("refreshes itself: a payment published later shows without a reload", async () => {
    const refreshes = Number(await page.getAttribute("body", "data-refreshes"));
    await publishPayment(redis, config.eventStream, { trace_id: uniqueName("evt"), user_id: "u4" });
    // Polled from here: the page's CSP refuses waitForFunction's string evaluation.
    await waitFor(
      "the page to show the 4th payment",
      async () => (await outcomeOnPage("applied")) === 4,
    );
    expect(Number(await page.getAttribute("body", "data-refreshes"))).toBeGreaterThan(refreshes);
    expect(problems).toEqual([]);
  });

  test("shows no event data: no trace id, user or course on the page or in its JSON", async () => {
    const json = await (await fetch(`${origin}/status.json`)).text();
    const body = await page.textContent("body");
    for (const secret of ["u1", "u2", "u3", "u4", "course_001", "test_tenant", "evt_"]) {
      expect({ secret, inJson: json.includes(`"${secret}`) }).toEqual({ secret, inJson: false });
      expect({ secret, onPage: body?.includes(secret) }).toEqual({ secret, onPage: false });
    }
  });

  test("a screenshot is kept as a CI artifact", async () => {
    mkdirSync(join(REPO_ROOT, "test-artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
  });
});
