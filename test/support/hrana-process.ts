/**
 * The Hrana test server in a process of its own (its standalone mode), for fault tests that
 * kill it with SIGKILL and start it again on the same port and file, as a crashed and
 * restarted sqld would be.
 */
import { REPO_ROOT } from "./binary.ts";
import { freePort } from "./fixtures.ts";

const SERVER_SCRIPT = "test/support/hrana-server.ts";
const READY_TIMEOUT_MS = 10_000;

export interface HranaProcessOptions {
  dbPath: string;
  authToken: string;
  batonTimeoutMs?: number;
}

export class HranaProcess {
  #child: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
  #output = "";

  private constructor(
    readonly port: number,
    readonly options: HranaProcessOptions,
  ) {}

  static async start(options: HranaProcessOptions): Promise<HranaProcess> {
    const server = new HranaProcess(await freePort(), options);
    await server.start();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What it printed since its last start. */
  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    const child = this.#child;
    // Killed by a signal, it has no exit code: its signal code says it is gone.
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Starts it (again) on its port and resolves once it prints its address. */
  async start(): Promise<void> {
    if (this.running) return;
    const args = ["--port", String(this.port), "--db", this.options.dbPath];
    args.push("--auth-token", this.options.authToken);
    if (this.options.batonTimeoutMs !== undefined) {
      args.push("--baton-timeout-ms", String(this.options.batonTimeoutMs));
    }
    const child = Bun.spawn([process.execPath, SERVER_SCRIPT, ...args], {
      cwd: REPO_ROOT,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.#child = child;
    this.#output = "";
    const decoder = new TextDecoder();
    void (async () => {
      for await (const chunk of child.stdout) this.#output += decoder.decode(chunk);
    })();
    void (async () => {
      for await (const chunk of child.stderr) this.#output += decoder.decode(chunk);
    })();
    const deadline = performance.now() + READY_TIMEOUT_MS;
    while (!this.#output.includes(`listening on ${this.url}`)) {
      if (child.exitCode !== null || performance.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`the Hrana test server did not start on ${this.url}:\n${this.#output}`);
      }
      await Bun.sleep(20);
    }
  }

  /** SIGKILL, and waits until it is gone: a crash, open transactions lost mid-way. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill("SIGKILL");
    await child.exited;
  }

  /** SIGTERM and wait (it closes its streams and exits 0). */
  async stop(): Promise<number | null> {
    const child = this.#child;
    if (child === undefined || !this.running) return child?.exitCode ?? null;
    child.kill("SIGTERM");
    return child.exited;
  }
}
