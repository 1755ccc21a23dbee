import type { KnownEventType } from "../contract/event-schema.ts";
import type { RegisteredSubscriber, Subscriber } from "./subscriber.ts";

export class DuplicateSubscriberError extends Error {
  override readonly name = "DuplicateSubscriberError";
}

/** event_type → the subscribers registered for it, in registration order. */
export class SubscriberRegistry {
  readonly #byType = new Map<string, RegisteredSubscriber[]>();
  readonly #names = new Set<string>();

  /** Takes a subscriber of any event types of EVENT_SCHEMAS; `T` is checked where it is built. */
  register<T extends KnownEventType>(subscriber: Subscriber<T>): this {
    if (this.#names.has(subscriber.name)) {
      throw new DuplicateSubscriberError(
        `A subscriber named "${subscriber.name}" is already registered`,
      );
    }
    this.#names.add(subscriber.name);
    // The one place the event type is erased: lookup() hands it only events of its types.
    const registered = subscriber as unknown as RegisteredSubscriber;
    for (const eventType of subscriber.eventTypes) {
      const list = this.#byType.get(eventType) ?? [];
      list.push(registered);
      this.#byType.set(eventType, list);
    }
    return this;
  }

  lookup(eventType: string): readonly RegisteredSubscriber[] {
    return this.#byType.get(eventType) ?? [];
  }

  get size(): number {
    return this.#names.size;
  }
}
