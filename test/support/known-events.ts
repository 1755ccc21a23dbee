/**
 * A known set of entries, for tests that compare what the worker reports (/metrics, the status
 * page) with what was sent: unique payments, one replay, one entry that is not JSON and one of
 * a type no subscriber handles.
 */
import type Redis from "ioredis";
import type { Config } from "../../src/config/config.ts";
import { uniqueName } from "./fixtures.ts";
import { publishFields, publishPayment, streamState, waitFor } from "./worker-harness.ts";

/** Publishes `payments` unique payments (users u1, u2, …) and the three others; returns the entry count. */
export async function publishKnownSet(redis: Redis, stream: string, payments: number) {
  const first = { trace_id: uniqueName("evt"), user_id: "u1" };
  await publishPayment(redis, stream, first);
  for (let i = 2; i <= payments; i++) {
    await publishPayment(redis, stream, { trace_id: uniqueName("evt"), user_id: `u${i}` });
  }
  await publishPayment(redis, stream, first);
  await publishFields(redis, stream, ["data", "{not json"]);
  await publishFields(redis, stream, [
    "data",
    JSON.stringify({
      event_type: "paycore.refund_issued",
      trace_id: uniqueName("evt"),
      tenant_id: "t1",
      user_id: "u1",
      metadata: {},
    }),
  ]);
  return payments + 3;
}

/** Waits until a spawned worker has drained the stream; fails at once if it exits. */
export async function waitForSpawnedDrain(
  worker: { child: Bun.Subprocess; output(): string },
  redis: Redis,
  config: Config,
): Promise<void> {
  await waitFor(
    "the worker to drain the stream",
    async () => {
      if (worker.child.exitCode !== null) {
        throw new Error(`the worker exited ${worker.child.exitCode}: ${worker.output()}`);
      }
      const state = await streamState(redis, config);
      return state.lag === 0 && state.pending === 0;
    },
    20_000,
  );
}
