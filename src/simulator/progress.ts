/**
 * Progress of a long run: on a terminal a bar redrawn in place with the rate and the time left;
 * elsewhere (a pipe, a log file, CI) one plain line per interval, since carriage returns would
 * pile up there as one unreadable line.
 */

export interface ProgressSnapshot {
  done: number;
  total: number;
  elapsedMs: number;
}

export interface ProgressOutput {
  write(text: string): unknown;
}

export interface ProgressOptions {
  total: number;
  out: ProgressOutput;
  /** Redraw a bar in place (a terminal) or print plain lines. */
  isTTY: boolean;
  /** What is counted, e.g. "published". @defaultValue "done" */
  verb?: string;
  /** @defaultValue performance.now */
  now?: () => number;
  /** Plain lines at most this often. @defaultValue 1000 */
  lineIntervalMs?: number;
  /** Bar redraws at most this often. @defaultValue 100 */
  redrawIntervalMs?: number;
  /**
   * The terminal's width in columns, asked at each redraw (it may be resized); undefined when
   * unknown. @defaultValue () => process.stdout.columns
   */
  columns?: () => number | undefined;
}

const BAR_WIDTH = 28;
/** Narrower than this, the bar is left out and only the figures are shown. */
const MIN_BAR_WIDTH = 5;

/** Events a second so far, 0 before any time has passed. */
export function ratePerSecond(done: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
}

/** `850 ms`, `12.3 s`, `4m 05s`, `2h 03m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, "0")}s`;
  }
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

/** Time left at the rate so far; unknown (Infinity) before anything is done. */
export function etaMs({ done, total, elapsedMs }: ProgressSnapshot): number {
  if (done >= total) return 0;
  const rate = ratePerSecond(done, elapsedMs);
  return rate > 0 ? ((total - done) / rate) * 1000 : Number.POSITIVE_INFINITY;
}

function percent({ done, total }: ProgressSnapshot): number {
  return total > 0 ? Math.floor((done * 100) / total) : 100;
}

function formatRate(snapshot: ProgressSnapshot): string {
  return `${Math.round(ratePerSecond(snapshot.done, snapshot.elapsedMs))}/s`;
}

/**
 * `[██████████░░░░░░░░░░]  50%  1000/2000  812/s  ETA 1.2 s`, narrower than `columns` when
 * given: the bar shrinks first, then goes, then the figures are cut. A line as wide as the
 * terminal would wrap, and a redraw (which clears one row) would leave the wrapped rows behind.
 */
export function formatBar(snapshot: ProgressSnapshot, columns?: number): string {
  const pct = `${percent(snapshot)}%`.padStart(4);
  const count = `${snapshot.done}/${snapshot.total}`;
  const figures = `${pct}  ${count}  ${formatRate(snapshot)}  ETA ${formatDuration(etaMs(snapshot))}`;
  // One column spare: writing into the last one puts some terminals in their wrap state.
  const room = columns === undefined ? Number.POSITIVE_INFINITY : columns - 1;
  const barWidth = Math.min(BAR_WIDTH, room - Bun.stringWidth(figures) - 3);
  if (barWidth < MIN_BAR_WIDTH) return truncateToWidth(figures.trimStart(), room);
  const filled = Math.round((percent(snapshot) * barWidth) / 100);
  const bar = "█".repeat(filled) + "░".repeat(barWidth - filled);
  return `[${bar}] ${figures}`;
}

/** The longest start of `text` that fits in `width` terminal columns (Bun.stringWidth). */
export function truncateToWidth(text: string, width: number): string {
  if (Bun.stringWidth(text) <= width) return text;
  let out = "";
  let used = 0;
  for (const char of text) {
    const w = Bun.stringWidth(char);
    if (used + w > width) break;
    out += char;
    used += w;
  }
  return out;
}

/** `published 1000/2000 (50%), 812/s, ETA 1.2 s` */
export function formatLine(snapshot: ProgressSnapshot, verb: string): string {
  return `${verb} ${snapshot.done}/${snapshot.total} (${percent(snapshot)}%), ${formatRate(snapshot)}, ETA ${formatDuration(etaMs(snapshot))}`;
}

/** Call `update` as often as you like; it draws only when its interval has passed. */
export class ProgressDisplay {
  readonly #options: Required<Omit<ProgressOptions, "out" | "columns">> & {
    out: ProgressOutput;
    columns: () => number | undefined;
  };
  readonly #startedAt: number;
  #lastDrawAt = Number.NEGATIVE_INFINITY;
  #drawn = false;

  constructor(options: ProgressOptions) {
    this.#options = {
      verb: "done",
      now: () => performance.now(),
      lineIntervalMs: 1000,
      redrawIntervalMs: 100,
      columns: () => process.stdout.columns,
      ...options,
    };
    this.#startedAt = this.#options.now();
    if (options.isTTY) this.#lastDrawAt = this.#startedAt - this.#options.redrawIntervalMs;
    else this.#lastDrawAt = this.#startedAt;
  }

  update(done: number): void {
    const now = this.#options.now();
    const interval = this.#options.isTTY
      ? this.#options.redrawIntervalMs
      : this.#options.lineIntervalMs;
    if (now - this.#lastDrawAt < interval) return;
    this.#lastDrawAt = now;
    this.#draw(done, now);
  }

  /** Draws the last state; on a terminal also ends the bar's line. */
  finish(done: number): void {
    if (!this.#options.isTTY) return;
    this.#draw(done, this.#options.now());
    if (this.#drawn) this.#options.out.write("\n");
  }

  #draw(done: number, now: number): void {
    const snapshot = { done, total: this.#options.total, elapsedMs: now - this.#startedAt };
    if (this.#options.isTTY) {
      // \r back to the line start, ESC[2K clears what a longer earlier line left.
      this.#options.out.write(`\r\x1b[2K${formatBar(snapshot, this.#options.columns())}`);
    } else {
      this.#options.out.write(`${formatLine(snapshot, this.#options.verb)}\n`);
    }
    this.#drawn = true;
  }
}
