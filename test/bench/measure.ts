/** Measurements: RSS of a process from /proc, percentiles, medians, a least-squares slope. */
import { readFileSync } from "node:fs";

export interface MemoryReading {
  /** Resident set size now, KiB (VmRSS). */
  rssKb: number;
  /** Peak resident set size so far, KiB (VmHWM, the kernel's high-water mark). */
  hwmKb: number;
}

/** VmRSS and VmHWM of `pid`, or undefined once the process is gone. */
export function readMemory(pid: number): MemoryReading | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rssKb: field("VmRSS"), hwmKb: field("VmHWM") };
}

export interface RssSample {
  /** Milliseconds since sampling started. */
  atMs: number;
  rssKb: number;
}

export interface RssSampler {
  readonly samples: RssSample[];
  /** Highest of VmHWM and every VmRSS sample, KiB. */
  peakKb(): number;
  /** Takes a last reading (call it before the process exits) and stops. */
  stop(): void;
}

/** Samples VmRSS of `pid` every `intervalMs` (and VmHWM on each reading) until stopped. */
export function sampleRss(pid: number, intervalMs = 100): RssSampler {
  const started = performance.now();
  const samples: RssSample[] = [];
  let peak = 0;
  const read = () => {
    const memory = readMemory(pid);
    if (memory === undefined) return;
    samples.push({ atMs: performance.now() - started, rssKb: memory.rssKb });
    peak = Math.max(peak, memory.rssKb, memory.hwmKb);
  };
  read();
  const timer = setInterval(read, intervalMs);
  return {
    samples,
    peakKb: () => peak,
    stop() {
      read();
      clearInterval(timer);
    },
  };
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function median(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1
    ? (finite[mid] as number)
    : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}

export function minMax(values: readonly number[]): { min: number; max: number } {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return { min: Number.NaN, max: Number.NaN };
  return { min: Math.min(...finite), max: Math.max(...finite) };
}

/** Least-squares slope of y over x (units of y per unit of x); NaN with fewer than 2 points. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarizeLatencies(values: Float64Array): LatencySummary {
  const sorted = values.slice().sort();
  return {
    count: sorted.length,
    p50: percentileSorted(sorted, 50),
    p99: percentileSorted(sorted, 99),
    p999: percentileSorted(sorted, 99.9),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}
