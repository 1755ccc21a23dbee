import { describe, expect, test } from "bun:test";
import {
  combine,
  failureResult,
  refusedResult,
  repeatResult,
} from "../../src/dispatch/dispositions.ts";
import { PermanentError } from "../../src/dispatch/permanent-error.ts";
import type { DispatchedEvent } from "../../src/dispatch/subscriber.ts";

const dispatched = {
  event: { trace_id: "evt_1", event_type: "paycore.payment_succeeded", tenant_id: "t1" },
  entryId: "1-0",
  payloadHash: "hash-a",
} as unknown as DispatchedEvent;

describe("dispositions", () => {
  test("a repeat with the stored hash is a duplicate, ACKed", () => {
    expect(repeatResult("sub", dispatched, "hash-a")).toEqual({
      outcome: "duplicate",
      disposition: { kind: "ack" },
    });
  });

  test("a repeat with another hash is a conflict, dead-lettered with both hashes named", () => {
    const result = repeatResult("sub", dispatched, "hash-b");
    expect(result.outcome).toBe("conflict");
    expect(result.disposition).toMatchObject({ kind: "dead_letter", reason: "conflict" });
    const detail = result.disposition.kind === "dead_letter" ? result.disposition.detail : "";
    expect(detail).toContain("evt_1");
    expect(detail).toContain("hash-b");
    expect(detail).toContain("hash-a");
  });

  test("an event the subscriber refused is a conflict with its reason", () => {
    expect(refusedResult("sub", "tenant_id differs").disposition).toEqual({
      kind: "dead_letter",
      reason: "conflict",
      subscriber: "sub",
      detail: "tenant_id differs",
    });
  });

  test("a permanent failure is dead-lettered, any other failure retried", () => {
    expect(failureResult("sub", new PermanentError("no such course")).disposition).toEqual({
      kind: "dead_letter",
      reason: "permanent_error",
      subscriber: "sub",
      detail: "no such course",
    });
    const error = new Error("socket hang up");
    expect(failureResult("sub", error).disposition).toEqual({
      kind: "retry",
      subscriber: "sub",
      error,
    });
  });

  test("retry wins over a dead letter, which wins over an ACK", () => {
    const ack = { kind: "ack" } as const;
    const dead = { kind: "dead_letter", reason: "conflict", detail: "x" } as const;
    const retry = { kind: "retry", subscriber: "s", error: null } as const;
    expect(combine([])).toEqual(ack);
    expect(combine([ack, ack])).toEqual(ack);
    expect(combine([ack, dead])).toEqual(dead);
    expect(combine([dead, retry, ack])).toEqual(retry);
  });
});
