import { describe, expect, test } from "bun:test";
import {
  type KnownEventType,
  PAYMENT_REFUNDED,
  PAYMENT_SUCCEEDED,
} from "../../src/contract/event-schema.ts";
import { DuplicateSubscriberError, SubscriberRegistry } from "../../src/dispatch/registry.ts";
import { defineSubscriber } from "../../src/dispatch/subscriber.ts";

function subscriber(name: string, eventTypes: KnownEventType[]) {
  return defineSubscriber({ name, eventTypes, handle: async () => {} });
}

describe("SubscriberRegistry", () => {
  test("looks up every subscriber of a type, in registration order", () => {
    const a = subscriber("a", [PAYMENT_SUCCEEDED]);
    const b = subscriber("b", [PAYMENT_SUCCEEDED, PAYMENT_REFUNDED]);
    const registry = new SubscriberRegistry().register(a).register(b);
    expect(registry.lookup(PAYMENT_SUCCEEDED).map((s) => s.name)).toEqual(["a", "b"]);
    expect(registry.lookup(PAYMENT_REFUNDED).map((s) => s.name)).toEqual(["b"]);
    expect(registry.size).toBe(2);
  });

  test("an event type nobody handles has no subscribers", () => {
    expect(new SubscriberRegistry().lookup("paycore.unknown")).toEqual([]);
  });

  test("a duplicate subscriber name is an error", () => {
    const registry = new SubscriberRegistry().register(subscriber("same", [PAYMENT_SUCCEEDED]));
    expect(() => registry.register(subscriber("same", [PAYMENT_REFUNDED]))).toThrow(
      DuplicateSubscriberError,
    );
    expect(registry.lookup(PAYMENT_REFUNDED)).toEqual([]);
  });
});
