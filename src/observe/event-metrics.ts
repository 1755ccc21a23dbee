/**
 * The metrics the consumer feeds after each batch: events received and their outcomes, the
 * processing latency, batch duration and size, dead letters written by reason.
 *
 * The hot path allocates nothing per event: each label set's count lives in a plain number
 * held by a child found through nested Maps (no label object, no hash string), and the counts
 * are handed to prom-client's counters when a scrape collects them. Only the latency histogram
 * is observed per entry, without labels.
 */
import { Counter, Histogram, type Registry } from "prom-client";
import type { DeadLetterReason } from "../contract/decode.ts";
import type { EntryResult } from "../dispatch/dispatcher.ts";
import { OUTCOMES, type Outcome } from "../dispatch/outcome.ts";
import type { DeadLetter } from "../stream/dead-letters.ts";

/** The `subscriber` label of outcomes decided before any subscriber (invalid, ignored). */
export const NO_SUBSCRIBER = "none";
/** The `event_type` label of entries that could not be decoded. */
export const UNKNOWN_EVENT_TYPE = "unknown";
/** Past this many distinct event types, new ones are counted as "other": producers are not trusted. */
const MAX_EVENT_TYPES = 50;
const OTHER_EVENT_TYPE = "other";

/**
 * From 0.5 ms: a healthy worker settles an entry within a few milliseconds of its arrival, so
 * the low buckets must tell 1 ms from 5 ms; the high ones catch backlogs and outages.
 */
export const PROCESSING_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800,
];

/** The count of one label set; `flushed` of it are in prom-client's counter already. */
interface Tally<L extends string> {
  readonly labels: Record<L, string>;
  count: number;
  flushed: number;
}

/** Tallies of one counter, created once per label set and kept. */
class Tallies<L extends string> {
  readonly all: Tally<L>[] = [];

  add(labels: Record<L, string>): Tally<L> {
    const tally = { labels, count: 0, flushed: 0 };
    this.all.push(tally);
    return tally;
  }

  /** Hands what was counted since the last scrape to the counter. */
  flush(counter: Counter<L>): void {
    for (const tally of this.all) {
      if (tally.count === tally.flushed) continue;
      counter.inc(tally.labels, tally.count - tally.flushed);
      tally.flushed = tally.count;
    }
  }
}

/** The tallies of one event type: received, and outcomes by subscriber then outcome. */
interface EventTypeTallies {
  received: Tally<"event_type">;
  bySubscriber: Map<string, Record<Outcome, Tally<"event_type" | "subscriber" | "outcome">>>;
}

export class EventMetrics {
  readonly #received: Tallies<"event_type"> = new Tallies();
  readonly #outcomes: Tallies<"event_type" | "subscriber" | "outcome"> = new Tallies();
  readonly #deadLetters: Tallies<"reason"> = new Tallies();
  readonly #byEventType = new Map<string, EventTypeTallies>();
  readonly #byReason = new Map<string, Tally<"reason">>();
  readonly #processing: Histogram;
  readonly #batchDuration: Histogram;
  readonly #batchSize: Histogram;

  constructor(registry: Registry) {
    const received: Counter<"event_type"> = new Counter({
      name: "coursepay_events_received_total",
      help: "Stream entries processed, by event type (an entry retried in place counts each time)",
      labelNames: ["event_type"] as const,
      registers: [registry],
      collect: () => this.#received.flush(received),
    });
    const outcomes: Counter<"event_type" | "subscriber" | "outcome"> = new Counter({
      name: "coursepay_event_outcomes_total",
      help: `Outcomes by event type (as in coursepay_events_received_total) and subscriber ("${NO_SUBSCRIBER}" when decided before any subscriber)`,
      labelNames: ["event_type", "subscriber", "outcome"] as const,
      registers: [registry],
      collect: () => this.#outcomes.flush(outcomes),
    });
    const deadLetters: Counter<"reason"> = new Counter({
      name: "coursepay_dead_letters_written_total",
      help: "Dead letters this worker wrote (confirmed by Redis), by reason",
      labelNames: ["reason"] as const,
      registers: [registry],
      collect: () => this.#deadLetters.flush(deadLetters),
    });
    this.#processing = new Histogram({
      name: "coursepay_event_processing_seconds",
      help: "From an entry's arrival in the stream (the time in its id) to its settled outcome",
      buckets: PROCESSING_BUCKETS,
      registers: [registry],
    });
    this.#batchDuration = new Histogram({
      name: "coursepay_batch_duration_seconds",
      help: "Time to dispatch, commit, dead-letter and ACK one batch",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.#batchSize = new Histogram({
      name: "coursepay_batch_size",
      help: "Entries in one batch",
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
      registers: [registry],
    });
  }

  batchSettled(results: readonly EntryResult[], durationSeconds: number): void {
    const now = Date.now();
    for (const { entry, outcomes } of results) {
      const tallies = this.#eventType(entry.decoded);
      tallies.received.count++;
      for (const { subscriber, outcome } of outcomes) {
        this.#subscriber(tallies, subscriber ?? NO_SUBSCRIBER)[outcome].count++;
      }
      const arrivedAt = Number.parseInt(entry.id, 10);
      if (Number.isFinite(arrivedAt)) this.#processing.observe(Math.max(0, now - arrivedAt) / 1000);
    }
    this.#batchDuration.observe(durationSeconds);
    this.#batchSize.observe(results.length);
  }

  deadLettersWritten(letters: readonly DeadLetter[]): void {
    for (const { reason } of letters) this.#reason(reason).count++;
  }

  /** Dead letters written by reason since start, as coursepay_dead_letters_written_total. */
  deadLettersByReason(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [reason, tally] of this.#byReason) counts[reason] = tally.count;
    return counts;
  }

  #reason(reason: DeadLetterReason): Tally<"reason"> {
    let tally = this.#byReason.get(reason);
    if (tally === undefined) {
      tally = this.#deadLetters.add({ reason });
      this.#byReason.set(reason, tally);
    }
    return tally;
  }

  #eventType(decoded: EntryResult["entry"]["decoded"]): EventTypeTallies {
    const type = decoded.ok ? decoded.event.event_type : UNKNOWN_EVENT_TYPE;
    const known = this.#byEventType.get(type);
    if (known !== undefined) return known;
    const label = this.#byEventType.size >= MAX_EVENT_TYPES ? OTHER_EVENT_TYPE : type;
    const tallies = this.#byEventType.get(label) ?? {
      received: this.#received.add({ event_type: label }),
      bySubscriber: new Map(),
    };
    this.#byEventType.set(label, tallies);
    return tallies;
  }

  #subscriber(
    tallies: EventTypeTallies,
    subscriber: string,
  ): Record<Outcome, Tally<"event_type" | "subscriber" | "outcome">> {
    let byOutcome = tallies.bySubscriber.get(subscriber);
    if (byOutcome === undefined) {
      const eventType = tallies.received.labels.event_type;
      const created: Partial<Record<Outcome, Tally<"event_type" | "subscriber" | "outcome">>> = {};
      for (const outcome of OUTCOMES) {
        created[outcome] = this.#outcomes.add({ event_type: eventType, subscriber, outcome });
      }
      byOutcome = created as Record<Outcome, Tally<"event_type" | "subscriber" | "outcome">>;
      tallies.bySubscriber.set(subscriber, byOutcome);
    }
    return byOutcome;
  }
}
