import { describe, expect, test } from "bun:test";
import { ReplyError } from "ioredis";
import {
  classifyRedisError,
  describeRedisFailure,
  redisErrorMessage,
} from "../../src/stream/redis-errors.ts";

function reply(message: string): Error {
  return new ReplyError(message);
}

describe("classifyRedisError", () => {
  test("a lost, timed-out or refused link is a connection error", () => {
    expect(classifyRedisError(new Error("Command timed out"))).toBe("connection");
    expect(classifyRedisError(new Error("Connection is closed."))).toBe("connection");
    expect(
      classifyRedisError(
        new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      ),
    ).toBe("connection");
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
      code: "ECONNREFUSED",
    });
    expect(classifyRedisError(refused)).toBe("connection");
    const aborted = new Error("Reached the max retries per request limit");
    aborted.name = "MaxRetriesPerRequestError";
    expect(classifyRedisError(aborted)).toBe("connection");
  });

  test("NOGROUP, also from inside a script, means the group must be recreated", () => {
    expect(classifyRedisError(reply("NOGROUP No such key 's' or consumer group 'g'"))).toBe(
      "nogroup",
    );
  });

  test("replies that waiting cures are transient", () => {
    for (const code of [
      "LOADING",
      "BUSY",
      "MASTERDOWN",
      "READONLY",
      "TRYAGAIN",
      "CLUSTERDOWN",
      "OOM",
    ]) {
      expect(classifyRedisError(reply(`${code} something`))).toBe("transient");
    }
  });

  test("WRONGTYPE, script errors and unknown replies are persistent", () => {
    expect(
      classifyRedisError(
        reply(
          "WRONGTYPE Operation against a key holding the wrong kind of value script: 0123, on @user_script:3.",
        ),
      ),
    ).toBe("persistent");
    expect(
      classifyRedisError(reply("ERR user_script:1: Script attempted to access nonexistent global")),
    ).toBe("persistent");
    expect(classifyRedisError("a string")).toBe("persistent");
  });
});

describe("classifyRedisError: Sentinel and cluster failovers are never fatal", () => {
  test("a replica refusing a write, a cluster redirect or a cluster down are transient", () => {
    for (const message of [
      "READONLY You can't write against a read only replica.",
      "READONLY You can't write against a read only replica. script: ae78014880a67e49cd0c2d653f72b957a77f6452, on @user_script:12.",
      "MOVED 9414 127.0.0.1:7002",
      "ASK 9414 127.0.0.1:7002",
      "TRYAGAIN Multiple keys request during rehashing of slot",
      "CLUSTERDOWN The cluster is down",
      "CLUSTERDOWN Hash slot not served",
      "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
      "LOADING Redis is loading the dataset in memory",
    ]) {
      expect(classifyRedisError(reply(message))).toBe("transient");
    }
  });

  test("the cluster client's own give-ups are a lost connection: wait, re-read pending", () => {
    for (const message of [
      "Cluster isn't ready and enableOfflineQueue options is false",
      "Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down",
      "Too many Cluster redirections. Last error: Error: Connection is closed.",
      "Failed to refresh slots cache.",
      "None of startup nodes is available",
      "Cluster is disconnected.",
    ]) {
      expect(classifyRedisError(new Error(message))).toBe("connection");
    }
    const allFailed = new Error("Failed to refresh slots cache.");
    allFailed.name = "ClusterAllFailedError";
    expect(classifyRedisError(allFailed)).toBe("connection");
    const ended = new Error("Cluster is ended.");
    ended.name = "AbortError";
    expect(classifyRedisError(ended)).toBe("connection");
  });

  test("a redirect loop is described without ioredis' wording", () => {
    expect(
      describeRedisFailure(
        new Error("Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN down"),
      ),
    ).toBe(
      "the cluster kept redirecting the command (a failover or resharding under way): ReplyError: CLUSTERDOWN down",
    );
  });
});

describe("redisErrorMessage", () => {
  test("drops the script location Redis appends", () => {
    const sha = "ae78014880a67e49cd0c2d653f72b957a77f6452";
    expect(
      redisErrorMessage(reply(`WRONGTYPE Operation x script: ${sha}, on @user_script:3.`)),
    ).toBe("WRONGTYPE Operation x");
  });

  test("drops the retry plan of ioredis' Sentinel connector", () => {
    expect(
      redisErrorMessage(
        new Error(
          "All sentinels are unreachable. Retrying from scratch after 1000ms. Last error: ERR No such master with that name",
        ),
      ),
    ).toBe("All sentinels are unreachable. Last error: ERR No such master with that name");
  });
});
