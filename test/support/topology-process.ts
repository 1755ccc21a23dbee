/**
 * What the Sentinel and cluster launchers share: bounded polling, one-shot commands to one
 * node, INFO parsing, and free ports for cluster nodes (whose bus port is port + 10000).
 */
import { createServer } from "node:net";
import Redis from "ioredis";

export interface Address {
  host: string;
  port: number;
}

export const LOOPBACK = "127.0.0.1";

/** Polls `check` every intervalMs until it returns true; throws naming `what` after timeoutMs. */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error; // a node still starting or just killed: poll again
    }
    if (performance.now() > deadline) {
      const why = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
      throw new Error(`${timeoutMs} ms passed waiting for ${what}${why}`);
    }
    await Bun.sleep(intervalMs);
  }
}

/**
 * One command to one node on a connection of its own, never retried and never waiting more
 * than timeoutMs: for polling nodes that may be down.
 */
export async function nodeCommand(
  port: number,
  args: readonly (string | number)[],
  timeoutMs = 2_000,
): Promise<unknown> {
  const client = new Redis({
    host: LOOPBACK,
    port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on("error", () => {}); // reported through the command's rejection
  try {
    await client.connect();
    const [name, ...rest] = args;
    return await client.call(String(name), ...rest.map(String));
  } finally {
    client.disconnect();
  }
}

/** `INFO <section>` of one node as a record of its `key:value` lines. */
export async function nodeInfo(port: number, section: string): Promise<Record<string, string>> {
  return parseInfo(String(await nodeCommand(port, ["INFO", section])));
}

export function parseInfo(text: string): Record<string, string> {
  const record: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0 && !line.startsWith("#")) record[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return record;
}

/** A flat RESP reply [k1, v1, k2, v2, …] (SENTINEL MASTER, XINFO) as a record. */
export function pairs(reply: unknown): Record<string, string> {
  const list = reply as unknown[];
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) record[String(list[i])] = String(list[i + 1]);
  return record;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, LOOPBACK, () => server.close(() => resolve(true)));
  });
}

/** Ports handed out by freeClusterPort in this process, never handed out twice. */
const handedOut = new Set<number>();

/**
 * A loopback port below 55536 that is free, and whose cluster bus port (port + 10000) is free
 * as well. Drawn at random from 20000–45535, so parallel runs rarely pick the same one; a port
 * taken between this check and the server's start makes the start fail loudly.
 */
export async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 25_536);
    if (handedOut.has(port)) continue;
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free port pair (port, port + 10000) found in 200 attempts");
}
