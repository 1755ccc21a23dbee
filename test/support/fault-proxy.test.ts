import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createConnection } from "node:net";
import Redis, { type RedisOptions } from "ioredis";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.ts";
import { testRedisUrl, uniqueName } from "./fixtures.ts";
import { RespFramer } from "./resp-framing.ts";

const target = { host: "127.0.0.1", port: Number(new URL(testRedisUrl()).port) };

/** Polls until condition() holds; fails after timeoutMs instead of hanging the test. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** Raw bytes in, every byte that comes back until the proxy closes the connection (or `quietMs`). */
function exchange(port: number, request: string, quietMs = 2_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), quietMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.on("connect", () => socket.write(request));
  });
}

/** The message a promise rejects with, its handler attached at once; "resolved" if it does not. */
function failure(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (error: Error) => error.message,
  );
}

function refusal(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code));
    socket.on("connect", () => {
      socket.destroy();
      resolve(undefined);
    });
  });
}

describe("RespFramer", () => {
  const replies = [
    "+OK\r\n",
    "-ERR wrong\r\n",
    ":42\r\n",
    "$-1\r\n",
    "$0\r\n\r\n",
    "$5\r\nhe\r\no\r\n",
    "*-1\r\n",
    "*0\r\n",
    "*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nk\r\n$1\r\nv\r\n:7\r\n",
  ];
  const all = Buffer.from(replies.join(""));
  const expectedEnds = replies.map((_, i) => Buffer.byteLength(replies.slice(0, i + 1).join("")));

  test("finds every reply's end, in one chunk or split byte by byte", () => {
    expect(new RespFramer().push(all)).toEqual(expectedEnds);
    const framer = new RespFramer();
    const ends: number[] = [];
    for (let i = 0; i < all.length; i++) {
      if (framer.push(all.subarray(i, i + 1)).length > 0) ends.push(i + 1);
      expect(framer.idle).toBe(ends.at(-1) === i + 1);
    }
    expect(ends).toEqual(expectedEnds);
  });

  test("hands over commands, multibulk and inline, however they are split", () => {
    const wire = Buffer.from(
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n\r\nPING\r\n*0\r\nget  k\n",
    );
    for (const size of [wire.length, 1, 3]) {
      const commands: string[][] = [];
      const framer = new RespFramer((args) => commands.push(args));
      for (let i = 0; i < wire.length; i += size) framer.push(wire.subarray(i, i + size));
      expect(commands).toEqual([["SET", "k", "a\r\nb"], ["PING"], ["get", "k"]]);
    }
  });
});

describe("startFaultProxy", () => {
  let proxy: FaultProxy;
  const clients: Redis[] = [];

  /** An ioredis client through the proxy that fails fast and never reconnects on its own. */
  function client(options: RedisOptions = {}): Redis {
    const redis = new Redis(proxy.url, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 2_000,
      ...options,
    });
    redis.on("error", () => {});
    clients.push(redis);
    return redis;
  }

  beforeEach(async () => {
    proxy = await startFaultProxy(target);
  });

  afterEach(async () => {
    for (const redis of clients.splice(0)) redis.disconnect();
    await proxy.close();
    await proxy.close();
    expect(proxy.connections).toBe(0);
  });

  test("forwards 2,000 pipelined commands, a 1 MB bulk reply and nested arrays", async () => {
    const redis = client();
    const key = uniqueName("fault-proxy");
    const stream = `${key}-stream`;
    const big = "0123456789abcdef".repeat(65_536); // 1 MiB: many TCP chunks
    await redis.xgroup("CREATE", stream, "g", "0", "MKSTREAM");
    const pipeline = redis.pipeline().set(`${key}-big`, big);
    for (let i = 0; i < 1_990; i++) {
      if (i % 2 === 0) pipeline.xadd(stream, "*", "n", String(i));
      else pipeline.incr(`${key}-n`);
    }
    pipeline.get(`${key}-big`).xrange(stream, "-", "+", "COUNT", 2).get(`${key}-missing`);
    pipeline.xreadgroup("GROUP", "g", "c", "COUNT", 3, "STREAMS", stream, ">");
    pipeline.xautoclaim(stream, "g", "c2", 0, "0-0", "COUNT", 1).del(stream, `${key}-n`);
    const claimSent = proxy.waitForCommand("XAUTOCLAIM");
    const results = (await pipeline.exec()) ?? [];
    expect((await claimSent).args.slice(0, 3)).toEqual([stream, "g", "c2"]);

    expect(results).toHaveLength(1_997);
    expect(results.every(([error]) => error === null)).toBe(true);
    const values = results.map(([, value]) => value);
    expect(values[0]).toBe("OK");
    expect(values[1_990]).toBe(995);
    expect(values[1_991]).toBe(big);
    const range = values[1_992] as [string, string[]][];
    expect(range.map(([, fields]) => fields)).toEqual([
      ["n", "0"],
      ["n", "2"],
    ]);
    expect(values[1_993]).toBeNull();
    const read = values[1_994] as [string, [string, string[]][]][];
    expect(read[0]?.[0]).toBe(stream);
    expect(read[0]?.[1].map(([, fields]) => fields[1])).toEqual(["0", "2", "4"]);
    expect((values[1_995] as unknown[])[1]).toHaveLength(1);
    expect(proxy.commandCounts()).toMatchObject({ XADD: 995, INCR: 995, GET: 2, XAUTOCLAIM: 1 });
    expect(proxy.connections).toBe(1);
    expect(proxy.totalConnections).toBe(1);
  });

  test("under load, rules hit only the replies of their own commands", async () => {
    const key = uniqueName("fault-proxy");
    const busy = [client(), client(), client()];
    const victim = client();
    await Promise.all([...busy, victim].map((redis) => redis.ping()));
    const delayed = proxy.failReply({
      match: (c) => c.name === "GET" && c.args[0] === `${key}-0`,
      action: { delayMs: 20 },
      times: 5,
    });
    const cut = proxy.failReply({
      match: (c) => c.name === "GET" && c.args[0] === `${key}-victim`,
      action: "cut-before",
    });
    const load = busy.map(async (redis, i) => {
      for (let round = 0; round < 10; round++) {
        const pipeline = redis.pipeline();
        for (let j = 0; j < 100; j++) pipeline.incr(`${key}-${i}`).get(`${key}-${i}`);
        const values = ((await pipeline.exec()) ?? []).map(([, value]) => Number(value));
        const expected = Array.from({ length: 100 }, (_, j) => round * 100 + j + 1);
        expect(values).toEqual(expected.flatMap((n) => [n, n]));
      }
    });
    await proxy.waitForCommand("INCR");
    const set = victim.set(`${key}-victim`, "v");
    const get = failure(victim.get(`${key}-victim`));
    await Promise.all(load);
    expect(await set).toBe("OK");
    expect(await get).toBe("Connection is closed.");
    expect(cut.count).toBe(1);
    expect(delayed.count).toBe(5);
    expect(proxy.commandCounts().INCR).toBe(3_000);
  });

  test("cut-after-start: the client gets part of the reply, then the connection closes", async () => {
    const key = uniqueName("fault-proxy");
    const rule = proxy.failReply({
      match: (c) => c.name === "GET" && c.args[0] === key,
      action: "cut-after-start",
    });
    const value = "v".repeat(100);
    const request = `SET ${key} ${value}\r\nGET ${key}\r\nPING\r\n`;
    const bytes = (await exchange(proxy.port, request)).toString();
    expect(await rule.fired).toEqual({ name: "GET", args: [key] });
    const full = `+OK\r\n$100\r\n${value}\r\n`;
    expect(bytes.length).toBeGreaterThan("+OK\r\n".length);
    expect(bytes.length).toBeLessThan(full.length);
    expect(full.startsWith(bytes)).toBe(true);

    const redis = client();
    const other = uniqueName("fault-proxy");
    proxy.failReply({
      match: (c) => c.name === "GET" && c.args[0] === other,
      action: "cut-after-start",
    });
    const set = redis.set(other, value);
    const get = failure(redis.get(other));
    expect(await set).toBe("OK");
    expect(await get).toBe("Connection is closed.");
    await waitFor(() => proxy.connections === 0, "the cut");
  });

  test("cut-before: what came before is delivered whole, then the connection closes", async () => {
    const key = uniqueName("fault-proxy");
    const big = "x".repeat(1_000_000);
    const setup = client();
    await setup.set(`${key}-big`, big);
    proxy.failReply({ match: (c) => c.name === "GET" && c.args[0] === key, action: "cut-before" });
    const bytes = await exchange(proxy.port, `GET ${key}-big\r\nGET ${key}\r\nPING\r\n`);
    expect(bytes.toString()).toBe(`$1000000\r\n${big}\r\n`);

    const redis = client();
    await redis.ping();
    const rule = proxy.failReply({ match: (c) => c.name === "GET", action: "cut-before" });
    const set = redis.set(key, "v");
    const get = failure(redis.get(key));
    expect(await set).toBe("OK");
    expect(await get).toBe("Connection is closed.");
    expect((await rule.fired).args).toEqual([key]);
    expect(rule.count).toBe(1);
  });

  test("swallow: that reply and all after it never come, and the connection stays open", async () => {
    const redis = client({ commandTimeout: 500 });
    await redis.ping();
    const key = uniqueName("fault-proxy");
    proxy.failReply({ match: (c) => c.name === "GET" && c.args[0] === key, action: "swallow" });
    expect(await redis.set(key, "v")).toBe("OK");
    expect(await failure(redis.get(key))).toBe("Command timed out");
    expect(await failure(redis.ping())).toBe("Command timed out");
    expect(redis.status).toBe("ready");
    expect(proxy.connections).toBe(1);
    expect(await client().get(key)).toBe("v"); // other connections are fine
  });

  test("delayMs holds that reply, and the ones after it, in order", async () => {
    const redis = client();
    await redis.ping();
    const key = uniqueName("fault-proxy");
    const rule = proxy.failReply({
      match: (c) => c.name === "GET" && c.args[0] === key,
      action: { delayMs: 300 },
      times: 2,
    });
    const order: string[] = [];
    const started = performance.now();
    const get = redis.get(key).then(() => order.push("get"));
    const ping = redis.ping().then(() => order.push("ping"));
    await Promise.all([get, ping]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(295);
    expect(order).toEqual(["get", "ping"]);
    await Promise.all([redis.get(key), redis.get(key), redis.get(key)]);
    expect(rule.count).toBe(2);
  });

  test("delayAll adds latency to every reply until set back to 0", async () => {
    const redis = client();
    await redis.ping();
    proxy.delayAll(200);
    const started = performance.now();
    expect(await Promise.all([redis.ping(), redis.echo("a")])).toEqual(["PONG", "a"]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    proxy.delayAll(0);
    expect(await redis.ping()).toBe("PONG");
  });

  test("goSilent: old connections go dark for good; after restore new ones work", async () => {
    const old = client({ commandTimeout: 300 });
    await old.ping();
    proxy.goSilent();
    expect(await failure(old.ping())).toBe("Command timed out");

    const during = exchange(proxy.port, "PING\r\n", 400); // accepted, but a black hole
    await waitFor(() => proxy.totalConnections === 2, "the connection during the silence");
    expect((await during).length).toBe(0);

    proxy.restore();
    expect(await client().ping()).toBe("PONG");
    expect(await failure(old.ping())).toBe("Command timed out");
    expect(old.status).toBe("ready");
    expect(proxy.connections).toBe(2);
  });

  test("refuseConnections: ECONNREFUSED until acceptConnections, on the same port", async () => {
    const redis = client();
    await redis.ping();
    const port = proxy.port;
    await proxy.refuseConnections();
    await waitFor(() => redis.status === "end", "the client to see the close");
    expect(proxy.connections).toBe(0);
    expect(await refusal(port)).toBe("ECONNREFUSED");

    await proxy.acceptConnections();
    expect(proxy.port).toBe(port);
    expect(await client().ping()).toBe("PONG");
  });

  test("cutAll closes every connection at once, blocked commands included", async () => {
    const key = uniqueName("fault-proxy");
    const a = client();
    const b = client();
    const blocked = [failure(a.blpop(key, 5)), failure(b.blpop(key, 5))];
    await waitFor(() => proxy.commandCounts().BLPOP === 2, "both BLPOPs to be sent");
    proxy.cutAll();
    expect(await Promise.all(blocked)).toEqual(["Connection is closed.", "Connection is closed."]);
    await waitFor(() => proxy.connections === 0, "the cut");
    expect(await client().ping()).toBe("PONG");
  });
});
