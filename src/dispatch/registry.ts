import type { Subscriber } from "./subscriber.ts";

export class DuplicateSubscriberError extends Error {
  override readonly name = "DuplicateSubscriberError";
}

/** event_type → the subscribers registered for it, in registration order. */
export class SubscriberRegistry {
  readonly #byType = new Map<string, Subscriber[]>();
  readonly #names = new Set<string>();

  register(subscriber: Subscriber): this {
    if (this.#names.has(subscriber.name)) {
      throw new DuplicateSubscriberError(
        `A subscriber named "${subscriber.name}" is already registered`,
      );
    }
    this.#names.add(subscriber.name);
    for (const eventType of subscriber.eventTypes) {
      const list = this.#byType.get(eventType) ?? [];
      list.push(subscriber);
      this.#byType.set(eventType, list);
    }
    return this;
  }

  lookup(eventType: string): readonly Subscriber[] {
    return this.#byType.get(eventType) ?? [];
  }

  get size(): number {
    return this.#names.size;
  }
}
