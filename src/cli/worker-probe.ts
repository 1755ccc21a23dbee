/**
 * What the worker on this host reports about its own progress, read from its HTTP endpoints
 * (HTTP_HOST:HTTP_PORT): figures only the running process knows, such as when a read last came
 * back or how many commits failed. Used by `coursepay status`.
 */
import type { Config } from "../config/config.ts";

export interface WorkerReport {
  url: string;
  /** Undefined when the worker could not be asked; then `unreachable` says why. */
  secondsSinceLastRead?: number | undefined;
  secondsSinceLastCommit?: number | undefined;
  commitFailures?: number | undefined;
  /** /readyz: "ready", or the reasons it gave. */
  readiness?: string | undefined;
  unreachable?: string | undefined;
}

const PROBE_TIMEOUT_MS = 1_000;

/** Undefined without HTTP_PORT: there is nothing to ask. */
export async function probeLocalWorker(config: Config): Promise<WorkerReport | undefined> {
  if (config.httpPort === undefined || config.httpPort === 0) return undefined;
  const host = config.httpHost.includes(":") ? `[${config.httpHost}]` : config.httpHost;
  const url = `http://${host}:${config.httpPort}`;
  try {
    const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
    const [metrics, ready] = await Promise.all([
      fetch(`${url}/metrics`, { signal }).then((response) => response.text()),
      fetch(`${url}/readyz`, { signal }).then((response) => response.text()),
    ]);
    return {
      url,
      secondsSinceLastRead: sample(metrics, "coursepay_seconds_since_last_read"),
      secondsSinceLastCommit: sample(metrics, "coursepay_seconds_since_last_commit"),
      commitFailures: sample(metrics, "coursepay_commit_failures_total"),
      readiness: ready.trim().replace(/^not ready: /, ""),
    };
  } catch (error) {
    return { url, unreachable: error instanceof Error ? error.message : String(error) };
  }
}

/** The value of an unlabelled sample in the Prometheus text format. */
function sample(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  const value = line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
  return Number.isFinite(value) ? value : undefined;
}
