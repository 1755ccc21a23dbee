/**
 * The monitoring shipped in deploy/ (deploy/README.md): the Prometheus alert rules pass their
 * promtool unit tests, the example configuration and the worker's real /metrics pass promtool's
 * checks, and every metric that the rules and the Grafana dashboard name is one the worker
 * exports, with the stream gauges (the same on every worker) aggregated by max, never sum.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../src/config/config.ts";
import { freePort, tempDir } from "../support/fixtures.ts";
import { publishKnownSet, waitForSpawnedDrain } from "../support/known-events.ts";
import {
  killSpawnedWorkers,
  spawnWorker,
  testConfig,
  testRedis,
  waitFor,
} from "../support/worker-harness.ts";

const REPO = join(import.meta.dir, "../..");
const RULES = "deploy/prometheus/coursepay-alerts.yml";
const RULE_TESTS = "deploy/prometheus/coursepay-alerts.test.yml";
const SCRAPE_CONFIG = "deploy/prometheus/scrape-config.yml";
const DASHBOARD = "deploy/grafana/coursepay-dashboard.json";

/**
 * Metrics that deploy/ names and the worker does not export yet: issue 13's "New metrics" adds
 * them (build info, prom-client's default process metrics, dead letters written by reason).
 * The only exception to the name check. Remove each one as soon as /metrics has it: the test
 * "PENDING_METRICS lists only metrics still missing" fails until you do.
 */
const PENDING_METRICS: readonly string[] = [];

/** Series Prometheus makes itself for each target: never in a target's /metrics. */
const SCRAPE_SERIES: readonly string[] = ["up"];

/** Read from Redis at scrape time, the same on every worker: only max (or min) may combine them. */
const STREAM_GAUGES: readonly string[] = [
  "coursepay_stream_length",
  "coursepay_group_lag",
  "coursepay_group_pending",
  "coursepay_group_oldest_pending_idle_seconds",
  "coursepay_group_oldest_pending_age_seconds",
  "coursepay_dead_letters",
  "coursepay_group_consumers",
];

// --- PromQL, just enough to find the metric names in an expression --------------------------

const AGGREGATORS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
  "limitk",
  "limit_ratio",
]);

const FUNCTIONS = new Set([
  ..."abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv double_exponential_smoothing exp floor histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum holt_winters hour idelta increase info irate label_join label_replace last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month pi predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp vector year start end".split(
    " ",
  ),
  ...AGGREGATORS,
]);

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "offset",
  "bool",
  "and",
  "or",
  "unless",
  "atan2",
  "inf",
  "nan",
]);

/** Blanks out (same length, so positions hold) what can hold no metric name. */
function blankNonNames(expr: string): string {
  const blank = (match: string) => " ".repeat(match.length);
  return (
    expr
      .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, blank) // strings
      .replace(/#[^\n]*/g, blank) // comments
      .replace(/\$\{[^}]*\}|\$\w+|\[\[\w+\]\]/g, blank) // Grafana variables
      .replace(/\{[^}]*\}/g, blank) // label matchers
      .replace(/\[[^\]]*\]/g, blank) // ranges and subqueries
      // label lists of grouping and vector matching
      .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, blank)
  );
}

/** Each word of an expression outside strings, matchers, ranges and label lists; numbers and durations left out. */
function words(expr: string): { word: string; index: number; call: boolean }[] {
  const text = blankNonNames(expr);
  const found: { word: string; index: number; call: boolean }[] = [];
  for (const match of text.matchAll(/\d[\w.]*|([a-zA-Z_:][a-zA-Z0-9_:]*)(?=(\s*\()?)/g)) {
    const word = match[1];
    if (word === undefined) continue; // a number or a duration
    found.push({ word, index: match.index, call: match[2] !== undefined });
  }
  return found;
}

/** The metric names an expression reads; throws on a call of something that is no PromQL function. */
function metricNames(expr: string): string[] {
  const names = new Set<string>();
  for (const { word, call } of words(expr)) {
    if (call) {
      if (!FUNCTIONS.has(word)) throw new Error(`unknown PromQL function ${word}() in: ${expr}`);
      continue;
    }
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/**
 * For each occurrence of `metric` in `expr`, the first aggregation operator that encloses it
 * (undefined when none does): in `max by (job) (deriv(x[5m]))`, `max` for x.
 */
function enclosingAggregations(expr: string, metric: string): (string | undefined)[] {
  const text = blankNonNames(expr);
  const found: (string | undefined)[] = [];
  for (const { word, index } of words(expr)) {
    if (word !== metric) continue;
    let aggregation: string | undefined;
    let depth = 0;
    for (let i = index - 1; i >= 0 && aggregation === undefined; i--) {
      const char = text[i];
      if (char === ")") depth++;
      else if (char === "(" && depth > 0) depth--;
      else if (char === "(") {
        const before = /([a-zA-Z_][a-zA-Z0-9_]*)\s*$/.exec(text.slice(0, i))?.[1];
        if (before !== undefined && AGGREGATORS.has(before)) aggregation = before;
      }
    }
    found.push(aggregation);
  }
  return found;
}

/** The PromQL in a Grafana variable query: label_values(expr, label), query_result(expr). */
function variableQueryExpr(query: string): string | undefined {
  const labelValues = /^\s*label_values\(\s*(.*),\s*[a-zA-Z_]\w*\s*\)\s*$/s.exec(query);
  if (labelValues) return labelValues[1];
  if (/^\s*label_values\(\s*[a-zA-Z_]\w*\s*\)\s*$/.test(query)) return undefined; // a label only
  const result = /^\s*query_result\((.*)\)\s*$/s.exec(query);
  if (result) return result[1];
  throw new Error(`unexpected Grafana variable query: ${query}`);
}

/** Every PromQL expression in a dashboard: any `expr` (panels, nested rows, annotations) and the variable queries. */
function dashboardExpressions(dashboard: unknown): { where: string; expr: string }[] {
  const found: { where: string; expr: string }[] = [];
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => {
        walk(item, `${where}[${i}]`);
      });
      return;
    }
    if (node === null || typeof node !== "object") return;
    const record = node as Record<string, unknown>;
    const title = typeof record.title === "string" ? ` "${record.title}"` : "";
    for (const [key, value] of Object.entries(record)) {
      if (key === "expr" && typeof value === "string") found.push({ where, expr: value });
      else walk(value, `${where}${title}.${key}`);
    }
  };
  walk(dashboard, "dashboard");
  const variables = (dashboard as { templating?: { list?: Record<string, unknown>[] } }).templating
    ?.list;
  for (const variable of variables ?? []) {
    if (variable.type !== "query") continue;
    const query = variable.query;
    const text =
      typeof query === "string" ? query : String((query as { query?: unknown })?.query ?? "");
    const expr = variableQueryExpr(text);
    if (expr !== undefined) found.push({ where: `variable ${String(variable.name)}`, expr });
  }
  return found;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}

function ruleExpressions(): { where: string; expr: string }[] {
  const file = Bun.YAML.parse(readFileSync(join(REPO, RULES), "utf8")) as {
    groups: { name: string; rules: Rule[] }[];
  };
  return file.groups.flatMap((group) =>
    group.rules.map((rule) => ({
      where: `${group.name}/${rule.alert ?? rule.record}`,
      expr: rule.expr,
    })),
  );
}

function loadDashboard(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(REPO, DASHBOARD), "utf8")) as Record<string, unknown>;
}

// --- promtool --------------------------------------------------------------------------------

async function promtool(args: string[], stdin?: string) {
  const path = Bun.which("promtool");
  if (path === null) {
    throw new Error("promtool not found on PATH: run .ci/setup (apt-get install prometheus)");
  }
  const child = Bun.spawn([path, ...args], {
    cwd: REPO,
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  return { code, output: `${stdout}${stderr}`.trim() };
}

// --- the worker's real /metrics --------------------------------------------------------------

/** Names of the samples in an exposition (histograms: their _bucket, _sum and _count). */
function sampleNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
    if (name !== undefined) names.add(name);
  }
  return names;
}

/** The families an exposition declares (`# TYPE name type`). */
function families(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const [, name = "", type = ""] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    found.set(name, type);
  }
  return found;
}

function missingNames(
  expressions: { where: string; expr: string }[],
  exported: Set<string>,
): string[] {
  const known = new Set([...exported, ...SCRAPE_SERIES, ...PENDING_METRICS]);
  return expressions.flatMap(({ where, expr }) =>
    metricNames(expr)
      .filter((name) => !known.has(name))
      .map((name) => `${where}: ${name}`),
  );
}

describe("monitoring files in deploy/", () => {
  let config: Config;
  let metricsText = "";

  // A real `coursepay serve` with HTTP_PORT: two payments, a replay of one, an entry that is not
  // JSON (a dead letter) and an event no subscriber handles, so every family has samples.
  beforeAll(async () => {
    const port = await freePort();
    config = testConfig();
    const worker = spawnWorker(config, { HTTP_PORT: String(port) });
    const redis = testRedis();
    try {
      const entries = await publishKnownSet(redis, config.eventStream, 2);
      await waitForSpawnedDrain(worker, redis, config);
      await waitFor(`/metrics to count the ${entries} entries`, async () => {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
        metricsText = (await response?.text()) ?? "";
        return metricsText.includes(`\ncoursepay_event_processing_seconds_count ${entries}\n`);
      });
    } finally {
      redis.disconnect();
    }
  }, 30_000);

  afterAll(async () => {
    killSpawnedWorkers();
  });

  describe("Prometheus rules and configuration (promtool)", () => {
    test("promtool check rules", async () => {
      const result = await promtool(["check", "rules", RULES]);
      expect(result.output).toContain("SUCCESS");
      expect(result.code).toBe(0);
    });

    test("promtool test rules: each alert fires and stays quiet as its cases say", async () => {
      const result = await promtool(["test", "rules", RULE_TESTS]);
      expect(result.output).toContain("SUCCESS");
      expect(result.code).toBe(0);
    });

    test("promtool check config on the example scrape configuration (it loads the rules)", async () => {
      const result = await promtool(["check", "config", SCRAPE_CONFIG]);
      expect(result.output).toContain("SUCCESS");
      expect(result.code).toBe(0);
    });

    test("every alert the issue asks for is there, with a severity and a summary", () => {
      const file = Bun.YAML.parse(readFileSync(join(REPO, RULES), "utf8")) as {
        groups: {
          rules: { alert?: string; labels?: Record<string, string>; annotations?: object }[];
        }[];
      };
      const alerts = file.groups.flatMap((group) => group.rules);
      expect(alerts.map((rule) => rule.alert).sort()).toEqual([
        "CoursepayCommitsFailing",
        "CoursepayDatabaseDown",
        "CoursepayDeadLettersIncreasing",
        "CoursepayLagGrowing",
        "CoursepayOldestPendingTooOld",
        "CoursepayReadsStalled",
        "CoursepayRedisDown",
        "CoursepayWorkerAbsent",
        "CoursepayWorkerDown",
      ]);
      for (const rule of alerts) {
        expect(["warning", "critical"]).toContain(rule.labels?.severity ?? "");
        expect(rule.annotations).toHaveProperty("summary");
      }
    });

    test("every alert has a promtool case where it fires and one where it does not", () => {
      const file = Bun.YAML.parse(readFileSync(join(REPO, RULE_TESTS), "utf8")) as {
        tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
      };
      const cases = file.tests.flatMap((t) => t.alert_rule_test ?? []);
      for (const { where } of ruleExpressions()) {
        const alert = where.split("/")[1];
        const mine = cases.filter((c) => c.alertname === alert);
        expect({ alert, fires: mine.some((c) => (c.exp_alerts ?? []).length > 0) }).toEqual({
          alert,
          fires: true,
        });
        expect({ alert, quiet: mine.some((c) => (c.exp_alerts ?? []).length === 0) }).toEqual({
          alert,
          quiet: true,
        });
      }
    });
  });

  describe("the worker's real /metrics", () => {
    // coursepay's own families; a runtime one (prom-client's GC histogram, say) may have none.
    test("every coursepay_ family has samples, so the name checks below see them all", () => {
      const names = sampleNames(metricsText);
      const empty = [...families(metricsText)]
        .filter(([name]) => name.startsWith("coursepay_"))
        .filter(([name, type]) =>
          type === "histogram" || type === "summary"
            ? !names.has(`${name}_count`)
            : !names.has(name),
        )
        .map(([name]) => name);
      expect(empty).toEqual([]);
      expect(families(metricsText).size).toBeGreaterThanOrEqual(16);
    });

    test("promtool check metrics finds no problem", async () => {
      const result = await promtool(["check", "metrics"], metricsText);
      expect(result.output).toBe("");
      expect(result.code).toBe(0);
    });

    test("PENDING_METRICS lists only metrics still missing, each named by a file in deploy/", () => {
      const exported = sampleNames(metricsText);
      const named = new Set(
        [...ruleExpressions(), ...dashboardExpressions(loadDashboard())].flatMap(({ expr }) =>
          metricNames(expr),
        ),
      );
      const stale = PENDING_METRICS.filter((name) => exported.has(name));
      expect(stale.map((name) => `remove ${name} from PENDING_METRICS: /metrics has it`)).toEqual(
        [],
      );
      expect(PENDING_METRICS.filter((name) => !named.has(name))).toEqual([]);
    });
  });

  describe("every metric the dashboard and the rules name exists", () => {
    test("the dashboard's expressions, its variable queries included", () => {
      const expressions = dashboardExpressions(loadDashboard());
      expect(expressions.length).toBeGreaterThanOrEqual(20);
      expect(missingNames(expressions, sampleNames(metricsText))).toEqual([]);
    });

    test("the alert rules' expressions", () => {
      const expressions = ruleExpressions();
      expect(expressions.length).toBe(9);
      expect(missingNames(expressions, sampleNames(metricsText))).toEqual([]);
    });

    test("the stream gauges are combined with max or min, never sum, wherever they appear", () => {
      const wrong: string[] = [];
      for (const { where, expr } of [
        ...ruleExpressions(),
        ...dashboardExpressions(loadDashboard()),
      ]) {
        for (const gauge of STREAM_GAUGES) {
          for (const aggregation of enclosingAggregations(expr, gauge)) {
            if (aggregation !== "max" && aggregation !== "min") {
              wrong.push(`${where}: ${gauge} under ${aggregation ?? "no aggregation"}`);
            }
          }
        }
      }
      expect(wrong).toEqual([]);
    });
  });

  describe("the Grafana dashboard", () => {
    test("has the panels the issue asks for", () => {
      const titles = new Set<string>();
      const walk = (panels: unknown) => {
        for (const panel of (panels as Record<string, unknown>[] | undefined) ?? []) {
          if (typeof panel.title === "string") titles.add(panel.title);
          walk(panel.panels);
        }
      };
      walk(loadDashboard().panels);
      for (const title of [
        "Throughput by outcome",
        "Lag",
        "Pending",
        "Oldest pending entry",
        "Batch duration",
        "Dead letters written by reason",
        "Memory (RSS)",
      ]) {
        expect(titles).toContain(title);
      }
    });

    test("every Prometheus query uses the datasource variable, and panel ids are unique", () => {
      const uids: unknown[] = [];
      const collect = (node: unknown): void => {
        if (node === null || typeof node !== "object") return;
        for (const [key, value] of Object.entries(node)) {
          const source = value as { type?: unknown; uid?: unknown } | null;
          if (key === "datasource" && source?.type === "prometheus") uids.push(source.uid);
          else collect(value);
        }
      };
      collect(loadDashboard());
      expect(uids.length).toBeGreaterThan(20);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax
      expect(new Set(uids)).toEqual(new Set(["${datasource}"]));
      const ids: unknown[] = [];
      const walk = (panels: unknown) => {
        for (const panel of (panels as Record<string, unknown>[] | undefined) ?? []) {
          ids.push(panel.id);
          walk(panel.panels);
        }
      };
      walk(loadDashboard().panels);
      expect(new Set(ids).size).toBe(ids.length);
    });

    test("every expression is valid PromQL (promtool check rules on them as recording rules)", async () => {
      const expressions = dashboardExpressions(loadDashboard());
      const rules = {
        groups: [
          {
            name: "dashboard",
            rules: expressions.map(({ expr }, i) => ({
              record: `dashboard:expr_${i}`,
              expr: expr
                .replaceAll("$__rate_interval", "1m")
                .replaceAll("$__interval", "1m")
                .replaceAll("$job", "coursepay")
                .replaceAll("$instance", ".*"),
            })),
          },
        ],
      };
      const file = join(tempDir("dashboard-rules"), "dashboard.rules.json");
      await Bun.write(file, JSON.stringify(rules)); // JSON is YAML
      const result = await promtool(["check", "rules", file]);
      expect(result.output).toContain(`SUCCESS: ${expressions.length} rules found`);
      expect(result.code).toBe(0);
    });
  });
});

describe("the metric-name extraction", () => {
  test("finds metric names and leaves out functions, keywords, labels, strings and durations", () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, instance) (rate(a_bucket{job="$job", x=~"b|c"}[$__rate_interval])))',
      ),
    ).toEqual(["a_bucket"]);
    expect(
      metricNames(
        "max by (job) (deriv(lag[10m])) > 0\nand on (job) group_left (env)\nmax without (instance) (lag offset 5m) > 1e3",
      ),
    ).toEqual(["lag"]);
    expect(metricNames('absent(up{job="coursepay"}) or vector(0) unless bool x:rate5m')).toEqual([
      "up",
      "x:rate5m",
    ]);
    expect(metricNames("sum(rate(a_sum[5m])) / sum(rate(a_count[5m])) * Inf")).toEqual([
      "a_sum",
      "a_count",
    ]);
    expect(() => metricNames("rat(a[5m])")).toThrow("unknown PromQL function rat()");
  });

  test("finds the aggregation that encloses a metric", () => {
    expect(enclosingAggregations("max by (job) (deriv(g[10m]))", "g")).toEqual(["max"]);
    expect(enclosingAggregations("sum(rate(c[5m])) or max(delta(g[15m]))", "g")).toEqual(["max"]);
    expect(enclosingAggregations("sum by (job) (g) + max(g)", "g")).toEqual(["sum", "max"]);
    expect(enclosingAggregations("g > 0", "g")).toEqual([undefined]);
  });

  test("reads the PromQL of Grafana variable queries", () => {
    expect(variableQueryExpr('label_values(m{job="$job"}, instance)')).toBe('m{job="$job"}');
    expect(variableQueryExpr("label_values(job)")).toBeUndefined();
    expect(variableQueryExpr("query_result(max(m))")).toBe("max(m)");
  });
});
