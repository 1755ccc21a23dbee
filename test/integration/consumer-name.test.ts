import { describe, expect, test } from "bun:test";
import {
  capturingLogger,
  startTestWorker,
  testConfig,
  testRedis,
  waitFor,
} from "../support/worker-harness.ts";

const SHARED =
  "Another worker appears to use this CONSUMER_NAME: it read from the group less than CLAIM_IDLE_MS ago";

describe("a CONSUMER_NAME two workers share", () => {
  test("the second worker to start warns, saying how to set CONSUMER_NAME; a lone worker does not", async () => {
    const config = testConfig({ CONSUMER_NAME: "same-host" });
    const redis = testRedis();
    const first = capturingLogger();
    const a = await startTestWorker(config, first.logger);
    const second = capturingLogger();
    try {
      // The first worker has read (an idle blocking read counts) under the name.
      await waitFor("the first worker's consumer to exist", async () => {
        const consumers = (await redis.xinfo(
          "CONSUMERS",
          config.eventStream,
          config.consumerGroup,
        )) as unknown[];
        return consumers.length === 1;
      });
      const b = await startTestWorker(config, second.logger);
      await b.stop();
    } finally {
      await a.stop();
      redis.disconnect();
    }
    expect(first.lines().some((line) => line.msg === SHARED)).toBe(false);
    const warning = second.lines().find((line) => line.msg === SHARED);
    expect(warning).toMatchObject({ level: "warn", consumer: "same-host" });
    expect(String(warning?.hint)).toContain("CONSUMER_NAME");
  });
});
