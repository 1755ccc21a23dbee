import type { Logger } from "../observe/logger.ts";

/** Ignored event types logged once each; past this many, new ones are only counted. */
const MAX_LOGGED_IGNORED_TYPES = 1000;

/**
 * The first entry of each event type no subscriber handles is logged, with a hint (a typo in a
 * type name otherwise goes unseen); later ones are only counted, by the metrics.
 */
export class IgnoredTypeLog {
  readonly #logged = new Set<string>();

  constructor(private readonly logger: Logger) {}

  seen(eventType: string, entryId: string): void {
    if (this.#logged.has(eventType) || this.#logged.size >= MAX_LOGGED_IGNORED_TYPES) return;
    this.#logged.add(eventType);
    this.logger.info(
      {
        event_type: eventType,
        entry_id: entryId,
        hint: "no subscriber is registered for this event type: check its spelling with PayCore; later events of this type are only counted (outcome ignored)",
      },
      "Event type has no subscriber; ignoring it",
    );
  }
}
