import { describe, expect, test } from "bun:test";
import { DuplicateSubscriberError, SubscriberRegistry } from "../../src/dispatch/registry.ts";
import type { Subscriber } from "../../src/dispatch/subscriber.ts";

function subscriber(name: string, eventTypes: string[]): Subscriber {
  return { name, eventTypes, handle: async () => {} };
}

describe("SubscriberRegistry", () => {
  test("looks up every subscriber of a type, in registration order", () => {
    const a = subscriber("a", ["paycore.payment_succeeded"]);
    const b = subscriber("b", ["paycore.payment_succeeded", "paycore.refund_issued"]);
    const registry = new SubscriberRegistry().register(a).register(b);
    expect(registry.lookup("paycore.payment_succeeded")).toEqual([a, b]);
    expect(registry.lookup("paycore.refund_issued")).toEqual([b]);
    expect(registry.size).toBe(2);
  });

  test("an event type nobody handles has no subscribers", () => {
    expect(new SubscriberRegistry().lookup("paycore.unknown")).toEqual([]);
  });

  test("a duplicate subscriber name is an error", () => {
    const registry = new SubscriberRegistry().register(subscriber("same", ["x"]));
    expect(() => registry.register(subscriber("same", ["y"]))).toThrow(DuplicateSubscriberError);
    expect(registry.lookup("y")).toEqual([]);
  });
});
