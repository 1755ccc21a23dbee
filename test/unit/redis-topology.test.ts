import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../src/config/config.ts";
import {
  deadLetterStreamName,
  formatAddress,
  parseAddressList,
} from "../../src/config/redis-topology.ts";
import { hashTagOf, keySlot } from "../../src/stream/key-slot.ts";

function issues(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split("\n").slice(1);
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("parseAddressList", () => {
  test("host:port items, spaces trimmed, a missing port is the default", () => {
    expect(parseAddressList("a:1, b , [::1]:26380,10.0.0.1:7000", 26379)).toEqual({
      ok: true,
      addresses: [
        { host: "a", port: 1 },
        { host: "b", port: 26379 },
        { host: "::1", port: 26380 },
        { host: "10.0.0.1", port: 7000 },
      ],
    });
  });

  test("empty items, bad ports, URLs and duplicates are refused, naming the item", () => {
    expect(parseAddressList("a:1,,b:2", 1)).toEqual({ ok: false, problem: "an empty item" });
    expect(parseAddressList("a:0", 1)).toEqual({ ok: false, problem: '"a:0" (port 1–65535)' });
    expect(parseAddressList("a:70000", 1)).toEqual({
      ok: false,
      problem: '"a:70000" (port 1–65535)',
    });
    expect(parseAddressList("redis://a:1", 1)).toEqual({ ok: false, problem: '"redis://a:1"' });
    expect(parseAddressList("a:b", 1)).toEqual({ ok: false, problem: '"a:b"' });
    expect(parseAddressList("a:1,a:1", 1)).toEqual({ ok: false, problem: '"a:1" twice' });
  });

  test("formatAddress puts IPv6 hosts in brackets", () => {
    expect(formatAddress({ host: "::1", port: 7000 })).toBe("[::1]:7000");
    expect(formatAddress({ host: "h", port: 7000 })).toBe("h:7000");
  });
});

describe("the Redis topology in Config", () => {
  test("standalone by default: <stream>.dlq", () => {
    const config = loadConfig({});
    expect(config.redisTopology).toEqual({ kind: "standalone" });
    expect(config.deadLetterStream).toBe("brain.events.paycore.dlq");
  });

  test("Sentinel: sentinels, master name and its password; the DLQ name is unchanged", () => {
    const config = loadConfig({
      REDIS_SENTINELS: "s1:26379,s2",
      REDIS_SENTINEL_MASTER: "mymaster",
      REDIS_SENTINEL_PASSWORD: "sentinel-secret",
      REDIS_URL: "redis://:master-secret@ignored:1/3",
    });
    expect(config.redisTopology).toEqual({
      kind: "sentinel",
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26379 },
      ],
      masterName: "mymaster",
      sentinelPassword: "sentinel-secret",
    });
    expect(config.deadLetterStream).toBe("brain.events.paycore.dlq");
  });

  test("cluster: seed nodes; the DLQ is {<stream>}.dlq, in the stream's slot", () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: "n1:7000,n2:7001", EVENT_STREAM: "s.e" });
    expect(config.redisTopology).toEqual({
      kind: "cluster",
      nodes: [
        { host: "n1", port: 7000 },
        { host: "n2", port: 7001 },
      ],
    });
    expect(config.deadLetterStream).toBe("{s.e}.dlq");
    expect(keySlot(config.deadLetterStream)).toBe(keySlot("s.e"));
  });

  test("a bad address list is one line naming the variable", () => {
    expect(issues({ REDIS_CLUSTER_NODES: "n1:7000,n1:99999" })).toEqual([
      '  REDIS_CLUSTER_NODES: expected a comma-separated list of host:port (port 6379 when left out), got "n1:99999" (port 1–65535)',
    ]);
  });

  test("contradictions stop start-up, each naming its variable, with the other bad ones", () => {
    expect(issues({ REDIS_SENTINELS: "s:1" })).toEqual([
      "  REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS: the name the sentinels know the master by (`sentinel monitor <name> …`)",
    ]);
    expect(issues({ REDIS_SENTINEL_MASTER: "m" })).toEqual([
      "  REDIS_SENTINELS: required with REDIS_SENTINEL_MASTER: the sentinels' addresses, host:port separated by commas",
    ]);
    expect(issues({ REDIS_SENTINEL_PASSWORD: "p" })).toEqual([
      "  REDIS_SENTINEL_PASSWORD: set without REDIS_SENTINELS and REDIS_SENTINEL_MASTER: it is only used to talk to sentinels",
    ]);
    expect(
      issues({ REDIS_SENTINELS: "s:1", REDIS_SENTINEL_MASTER: "m", REDIS_CLUSTER_NODES: "n:1" }),
    ).toEqual([
      "  REDIS_CLUSTER_NODES: set together with REDIS_SENTINELS: choose one topology, Sentinel (REDIS_SENTINELS and REDIS_SENTINEL_MASTER) or a cluster (REDIS_CLUSTER_NODES)",
    ]);
    expect(
      issues({ REDIS_CLUSTER_NODES: "n:1", REDIS_URL: "redis://h/2", BATCH_SIZE: "0" }),
    ).toEqual([
      "  REDIS_URL: selects database 2, but a cluster (REDIS_CLUSTER_NODES) has only database 0: leave REDIS_URL's path empty or /0",
      '  BATCH_SIZE: expected an integer from 1 to 10000, got "0"',
    ]);
  });

  test("a cluster with database 0 in REDIS_URL, or Sentinel with any database, is fine", () => {
    expect(
      loadConfig({ REDIS_CLUSTER_NODES: "n:1", REDIS_URL: "rediss://u:p@h/0" }).redisTopology.kind,
    ).toBe("cluster");
    expect(
      loadConfig({ REDIS_SENTINELS: "s", REDIS_SENTINEL_MASTER: "m", REDIS_URL: "redis://h/5" })
        .redisTopology.kind,
    ).toBe("sentinel");
  });

  test("the sentinel password is a secret: never shown in an error", () => {
    const lines = issues({ REDIS_SENTINEL_PASSWORD: "hunter2" });
    expect(lines.join("\n")).not.toContain("hunter2");
  });
});

describe("dead-letter stream names and slots", () => {
  test("the issue's figures: the stream in 9414, its plain .dlq in 1694, the tagged one in 9414", () => {
    expect(keySlot("brain.events.paycore")).toBe(9414);
    expect(keySlot("brain.events.paycore.dlq")).toBe(1694);
    expect(keySlot(deadLetterStreamName("brain.events.paycore", { kind: "cluster" }))).toBe(9414);
    expect(keySlot("123456789")).toBe(12739); // the CRC16/XMODEM check value, 0x31C3
  });

  test("standalone and Sentinel keep <stream>.dlq", () => {
    expect(deadLetterStreamName("s")).toBe("s.dlq");
    expect(deadLetterStreamName("s", { kind: "standalone" })).toBe("s.dlq");
    expect(deadLetterStreamName("s", { kind: "sentinel" })).toBe("s.dlq");
  });

  test("a stream with a hash tag of its own keeps <stream>.dlq in a cluster: same slot", () => {
    expect(deadLetterStreamName("{pay}.events", { kind: "cluster" })).toBe("{pay}.events.dlq");
    expect(keySlot("{pay}.events.dlq")).toBe(keySlot("{pay}.events"));
    expect(deadLetterStreamName("a{b", { kind: "cluster" })).toBe("{a{b}.dlq");
    expect(keySlot("{a{b}.dlq")).toBe(keySlot("a{b"));
  });

  test("hash tags as Redis reads them: first { to the next }, not empty", () => {
    expect(hashTagOf("{user1000}.following")).toBe("user1000");
    expect(hashTagOf("foo{}{bar}")).toBeUndefined();
    expect(hashTagOf("foo{{bar}}zap")).toBe("{bar");
    expect(hashTagOf("foo{bar}{zap}")).toBe("bar");
    expect(hashTagOf("plain")).toBeUndefined();
  });

  test("in a cluster, a stream with a stray } is refused: its DLQ could not share its slot", () => {
    expect(issues({ REDIS_CLUSTER_NODES: "n:1", EVENT_STREAM: "a}b" })).toEqual([
      '  EVENT_STREAM: "a}b" holds a "}" outside a hash tag: in a cluster its dead-letter stream cannot be put in its slot; rename it, or give it a hash tag ({name}…)',
    ]);
    expect(loadConfig({ EVENT_STREAM: "a}b" }).deadLetterStream).toBe("a}b.dlq");
  });
});
