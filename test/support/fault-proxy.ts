/**
 * A TCP proxy for tests, between ioredis and a real redis-server on loopback, that breaks the
 * connection the ways real networks do: a reply cut halfway, a reply that never comes, a NAT that
 * forgets a connection (silence, no FIN), a refused port, latency. It frames RESP2 both ways so a
 * fault can aim at the reply of one command (reply k answers command k of that connection), and
 * otherwise forwards the original bytes untouched.
 */
import {
  type AddressInfo,
  createConnection,
  createServer,
  type Server,
  type Socket,
} from "node:net";
import { RespFramer } from "./resp-framing.ts";

/** A command as the client sent it: name uppercased, args after the name. */
export interface RedisCommand {
  name: string;
  args: string[];
}

/**
 * What a rule does to the reply it hits. cut-after-start: forward about half of its bytes (at
 * least one) then destroy both sockets. cut-before: forward what precedes it, then destroy both.
 * swallow: the connection goes dark from that reply on (nothing more either way, sockets stay
 * open). delayMs: hold it, and so everything after it on that connection, that long.
 */
export type ReplyAction = "cut-after-start" | "cut-before" | "swallow" | { delayMs: number };

export interface ReplyRuleOptions {
  match: (command: RedisCommand) => boolean;
  action: ReplyAction;
  /** How many replies (on any connection) it hits before it is spent; default 1. */
  times?: number;
}

export interface ReplyRule {
  /** Resolves with the command whose reply the rule hit first (when it decided, not after). */
  readonly fired: Promise<RedisCommand>;
  /** Replies hit so far. */
  readonly count: number;
  /** Removes the rule before it is spent. */
  cancel(): void;
}

export interface FaultProxyOptions {
  /** Latency on every server→client chunk from the start, as delayAll(ms). */
  delayMs?: number;
}

export interface FaultProxy {
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** Client connections open now (dark ones included). */
  readonly connections: number;
  /** Client connections accepted since the start. */
  readonly totalConnections: number;
  /** Arms a rule checked, in arming order, at the start of every reply on every connection. */
  failReply(options: ReplyRuleOptions): ReplyRule;
  /** Every connection, and every new one until restore(), goes dark: data is discarded. */
  goSilent(): void;
  /** New connections forward again; those that went dark stay dark. */
  restore(): void;
  /** Stops listening (new connections get ECONNREFUSED) and destroys every connection. */
  refuseConnections(): Promise<void>;
  /** Listens again, on the same port. */
  acceptConnections(): Promise<void>;
  /** Latency on every server→client chunk from now on, order kept; 0 removes it. */
  delayAll(ms: number): void;
  /** Destroys every connection, both sides, at once. */
  cutAll(): void;
  /** Commands forwarded to redis-server so far, by name. */
  commandCounts(): Record<string, number>;
  /** Calls listener with each command forwarded to redis-server; returns the unsubscribe. */
  onCommand(listener: (command: RedisCommand) => void): () => void;
  /** The next forwarded command matching a name or predicate; rejects after timeoutMs. */
  waitForCommand(
    match: string | ((command: RedisCommand) => boolean),
    timeoutMs?: number,
  ): Promise<RedisCommand>;
  /** Destroys every connection and stops listening; idempotent. */
  close(): Promise<void>;
}

type State = "open" | "dark" | "cutting" | "closed";
/** Bytes for the client, due at `at` (performance.now()); no data: the cut, when reached. */
type Outgoing = { data: Buffer | undefined; at: number };

interface Pair {
  client: Socket;
  server: Socket | undefined;
  state: State;
  framed: boolean;
  commands: RedisCommand[];
  replies: RespFramer;
  requests: RespFramer;
  out: Outgoing[];
  lastAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Settles when the client socket has closed (and the pair left `pairs`). */
  gone: Promise<void>;
}

interface Rule {
  options: ReplyRuleOptions;
  left: number;
  count: number;
  resolve: (command: RedisCommand) => void;
}

export async function startFaultProxy(
  target: { host: string; port: number },
  options: FaultProxyOptions = {},
): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  const rules: Rule[] = [];
  const counts = new Map<string, number>();
  const listeners = new Set<(command: RedisCommand) => void>();
  /** Pending waitForCommand calls, to reject on close() so that no timer outlives it. */
  const waiters = new Set<(error: Error) => void>();
  let delayMs = options.delayMs ?? 0;
  let silent = false;
  let total = 0;
  let closing: Promise<void> | undefined;
  let listener: Server | undefined;
  let port = 0;

  async function listen(): Promise<void> {
    const server = createServer(accept);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", () => {});
    port = (server.address() as AddressInfo).port;
    listener = server;
  }

  async function unlisten(): Promise<void> {
    const server = listener;
    listener = undefined;
    const closed = server && new Promise((resolve) => server.close(resolve));
    const gone = [...pairs].map((pair) => pair.gone);
    for (const pair of pairs) teardown(pair, false);
    await Promise.all([closed, ...gone]);
  }

  function accept(client: Socket): void {
    total += 1;
    const pair: Pair = {
      client,
      server: undefined,
      state: silent ? "dark" : "open",
      framed: true,
      commands: [],
      replies: new RespFramer(),
      requests: new RespFramer((args) => sent(pair, args)),
      out: [],
      lastAt: 0,
      timer: undefined,
      gone: new Promise((resolve) => client.once("close", () => resolve())),
    };
    pairs.add(pair);
    client.setNoDelay(true);
    client.on("error", () => {});
    client.on("close", () => {
      teardown(pair, false);
      pairs.delete(pair);
    });
    client.on("data", (chunk: Buffer) => fromClient(pair, chunk));
    if (closing || !listener) {
      teardown(pair, false);
      return;
    }
    if (pair.state === "dark") return; // a black hole: no upstream at all
    const server = createConnection({ host: target.host, port: target.port });
    pair.server = server;
    server.setNoDelay(true);
    server.on("error", () => {});
    server.on("close", () => {
      if (pair.state === "open") cut(pair); // redis-server went away: pass it on, after the queue
    });
    server.on("data", (chunk: Buffer) => fromServer(pair, chunk));
  }

  function sent(pair: Pair, args: string[]): void {
    const command = { name: (args[0] ?? "").toUpperCase(), args: args.slice(1) };
    pair.commands.push(command);
    counts.set(command.name, (counts.get(command.name) ?? 0) + 1);
    for (const listener of listeners) listener(command);
  }

  function fromClient(pair: Pair, chunk: Buffer): void {
    if (pair.state !== "open" || !pair.server) return;
    if (pair.framed) {
      try {
        pair.requests.push(chunk);
      } catch {
        unframe(pair);
      }
    }
    write(pair.server, chunk, pair.client);
  }

  function fromServer(pair: Pair, chunk: Buffer): void {
    if (pair.state !== "open") return;
    const boundary = pair.replies.idle;
    let ends: number[] = [];
    if (pair.framed) {
      try {
        ends = pair.replies.push(chunk);
      } catch {
        unframe(pair);
      }
    }
    if (rules.length === 0 || !pair.framed) {
      pair.commands.splice(0, ends.length);
      enqueue(pair, chunk, 0);
      return;
    }
    let start = 0; // of the reply being looked at
    let from = 0; // first byte not queued yet
    let replyStarts = boundary;
    for (let k = 0; k <= ends.length; k++) {
      const end = ends[k] ?? chunk.length;
      const rule = replyStarts && start < end ? ruleFor(pair.commands[0]) : undefined;
      if (rule) {
        const action = rule.options.action;
        if (typeof action === "object") {
          enqueue(pair, chunk.subarray(from, start), 0);
          enqueue(pair, chunk.subarray(start, end), action.delayMs);
          from = end;
        } else {
          const half =
            action === "cut-after-start" ? Math.max(1, Math.floor((end - start) / 2)) : 0;
          enqueue(pair, chunk.subarray(from, start + half), 0);
          if (action === "swallow") pair.state = "dark";
          else cut(pair);
          pair.commands = [];
          return;
        }
      }
      if (k < ends.length) pair.commands.shift();
      start = end;
      replyStarts = true;
    }
    enqueue(pair, chunk.subarray(from), 0);
  }

  function ruleFor(command: RedisCommand | undefined): Rule | undefined {
    if (!command) return undefined;
    const index = rules.findIndex((rule) => rule.options.match(command));
    const rule = rules[index];
    if (!rule) return undefined;
    rule.count += 1;
    rule.left -= 1;
    if (rule.left <= 0) rules.splice(index, 1);
    if (rule.count === 1) rule.resolve(command);
    return rule;
  }

  function unframe(pair: Pair): void {
    pair.framed = false;
    pair.commands = [];
  }

  /** Writes with backpressure: a full destination pauses the source until it drains. */
  function write(to: Socket, data: Buffer, source: Socket | undefined): void {
    if (!to.write(data) && source && !source.isPaused()) {
      source.pause();
      to.once("drain", () => source.resume());
    }
  }

  function enqueue(pair: Pair, data: Buffer, extraMs: number): void {
    if (data.length === 0) return;
    const delay = delayMs + extraMs;
    if (pair.out.length === 0 && delay <= 0) {
      write(pair.client, data, pair.server);
      return;
    }
    const at = Math.max(performance.now() + delay, pair.out.length > 0 ? pair.lastAt : 0);
    pair.out.push({ data, at });
    pair.lastAt = at;
    if (!pair.timer) flush(pair);
  }

  /** Destroys both sockets once everything queued before now has gone to the client. */
  function cut(pair: Pair): void {
    pair.state = "cutting";
    pair.out.push({ data: undefined, at: pair.out.length > 0 ? pair.lastAt : 0 });
    if (!pair.timer) flush(pair);
  }

  function flush(pair: Pair): void {
    pair.timer = undefined;
    const now = performance.now();
    for (let item = pair.out[0]; item; item = pair.out[0]) {
      if (item.at > now) {
        pair.timer = setTimeout(() => flush(pair), item.at - now);
        return;
      }
      pair.out.shift();
      if (!item.data) {
        teardown(pair, true);
        return;
      }
      write(pair.client, item.data, pair.server);
    }
  }

  function goDark(pair: Pair): void {
    if (pair.state === "closed") return;
    pair.state = "dark";
    clearTimeout(pair.timer);
    pair.timer = undefined;
    pair.out = [];
    pair.commands = [];
    pair.client.resume(); // keep reading, to discard
    pair.server?.resume();
  }

  /** Destroys both sockets; with flushFirst, the client's after its written bytes have left. */
  function teardown(pair: Pair, flushFirst: boolean): void {
    if (pair.state === "closed") {
      if (!flushFirst) pair.client.destroy();
      return;
    }
    pair.state = "closed";
    clearTimeout(pair.timer);
    pair.timer = undefined;
    pair.out = [];
    pair.server?.destroy();
    if (flushFirst && pair.client.writableLength > 0) {
      pair.client.once("finish", () => pair.client.destroy());
      pair.client.end();
    } else {
      pair.client.destroy();
    }
  }

  await listen();

  return {
    get port() {
      return port;
    },
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get connections() {
      return pairs.size;
    },
    get totalConnections() {
      return total;
    },
    failReply(ruleOptions) {
      let resolve: (command: RedisCommand) => void = () => {};
      const fired = new Promise<RedisCommand>((r) => {
        resolve = r;
      });
      const rule: Rule = { options: ruleOptions, left: ruleOptions.times ?? 1, count: 0, resolve };
      rules.push(rule);
      return {
        fired,
        get count() {
          return rule.count;
        },
        cancel() {
          const index = rules.indexOf(rule);
          if (index >= 0) rules.splice(index, 1);
        },
      };
    },
    goSilent() {
      silent = true;
      for (const pair of pairs) goDark(pair);
    },
    restore() {
      silent = false;
    },
    refuseConnections: unlisten,
    async acceptConnections() {
      if (!listener && !closing) await listen();
    },
    delayAll(ms) {
      delayMs = ms;
    },
    cutAll() {
      for (const pair of pairs) teardown(pair, false);
    },
    commandCounts() {
      return Object.fromEntries(counts);
    },
    onCommand(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    waitForCommand(match, timeoutMs = 5_000) {
      const matches = typeof match === "string" ? (c: RedisCommand) => c.name === match : match;
      return new Promise((resolve, reject) => {
        const done = (outcome: RedisCommand | Error) => {
          clearTimeout(timer);
          listeners.delete(onEach);
          waiters.delete(done);
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        };
        const onEach = (command: RedisCommand) => matches(command) && done(command);
        const timer = setTimeout(
          () => done(new Error(`fault proxy: no matching command within ${timeoutMs} ms`)),
          timeoutMs,
        );
        listeners.add(onEach);
        waiters.add(done);
      });
    },
    close() {
      if (!closing) {
        for (const done of waiters) done(new Error("fault proxy closed"));
        closing = unlisten();
      }
      return closing;
    },
  };
}
