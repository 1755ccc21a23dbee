/**
 * What a worker is and what it costs: coursepay_build_info and prom-client's default process
 * and runtime metrics (RSS, CPU, open files, heap, event-loop lag, GC), in the worker's registry.
 */
import { collectDefaultMetrics, Gauge, type Registry } from "prom-client";
import { type BuildInfo, buildInfo } from "../version.ts";

/**
 * Default metrics left out: gauges whose names end in `_total`, which `promtool check metrics`
 * rejects ("non-counter metrics should not have _total suffix"); their unsuffixed twins
 * (nodejs_active_handles, …) stay.
 */
export const EXCLUDED_DEFAULT_METRICS: readonly string[] = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/**
 * The labels of coursepay_build_info, from the one build description (src/version.ts): the
 * version without its `+commit` suffix, the commit (`unknown` from source), the Bun version.
 */
export function buildInfoLabels(info: Pick<BuildInfo, "version" | "commit" | "bun">): {
  version: string;
  commit: string;
  bun: string;
} {
  const plus = info.version.indexOf("+");
  return {
    version: plus === -1 ? info.version : info.version.slice(0, plus),
    commit: info.commit ?? "unknown",
    bun: info.bun,
  };
}

export function registerRuntimeMetrics(registry: Registry): void {
  const info = new Gauge({
    name: "coursepay_build_info",
    help: "Always 1; its labels say which build runs: version, git commit, Bun version",
    labelNames: ["version", "commit", "bun"] as const,
    registers: [registry],
  });
  info.set(BUILD_INFO, 1);
  collectDefaultMetrics({ register: registry });
  for (const name of EXCLUDED_DEFAULT_METRICS) registry.removeSingleMetric(name);
}

/** This build, as coursepay_build_info's labels say. */
export const BUILD_INFO = buildInfoLabels(buildInfo);
