/**
 * The bench's surroundings: the machine, the filesystem under the database files, versions,
 * the compiled binary (rebuilt when older than its sources), and coursepay's `synchronous`
 * mode as its writing connection reports it.
 */

import { readFileSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { createClient } from "@libsql/client";
import { ensureBinaryBuilt } from "../support/binary.ts";

export const REPO_ROOT = resolve(import.meta.dir, "..", "..");
export const BINARY = join(REPO_ROOT, "dist", "coursepay");

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  hypervisor: string | undefined;
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  let hypervisor: string | undefined;
  const lscpu = Bun.spawnSync(["lscpu"], { stderr: "ignore" });
  if (lscpu.success) {
    hypervisor = /^Hypervisor vendor:\s+(.+)$/m.exec(lscpu.stdout.toString())?.[1]?.trim();
  }
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    hypervisor,
  };
}

export interface Filesystem {
  path: string;
  /** The type `df -T` reports (ext4, xfs, tmpfs, overlay, …). */
  type: string;
  /** `stat -f -c %T`, the kernel's magic-number name (ext4 shows as ext2/ext3). */
  statType: string;
  /** The `df -T` line: device, type, mount point. */
  df: string;
  /** Mount options from /proc/mounts for that mount point. */
  mountOptions: string;
}

export function describeFilesystem(path: string): Filesystem {
  const run = (cmd: string[]) => {
    const result = Bun.spawnSync(cmd, { stderr: "pipe" });
    return result.success ? result.stdout.toString().trim() : `(${cmd.join(" ")} failed)`;
  };
  const df = run(["df", "-T", path]).split("\n").at(-1) ?? "";
  const columns = df.split(/\s+/);
  const mountPoint = columns.at(-1) ?? "";
  const device = columns[0] ?? "";
  const mount = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" "))
    .filter((parts) => parts[1] === mountPoint && parts[0] === device)
    .at(-1);
  return {
    path,
    type: columns[1] ?? "unknown",
    statType: run(["stat", "-f", "-c", "%T", path]),
    df: `${device} ${columns[1] ?? "?"} mounted on ${mountPoint}`,
    mountOptions: mount?.[3] ?? "unknown",
  };
}

function packageVersion(name: string): string {
  try {
    const pkg = JSON.parse(
      readFileSync(join(REPO_ROOT, "node_modules", name, "package.json"), "utf8"),
    ) as { version: string };
    return pkg.version;
  } catch {
    return "unknown";
  }
}

export interface Versions {
  coursepay: string;
  gitCommit: string;
  /** Source files changed but not committed when the binary was built (others' work in progress). */
  uncommittedSources: string[];
  bun: string;
  redisServer: string;
  ioredis: string;
  bullmq: string;
  libsqlClient: string;
  libsqlSqlite: string;
  drizzleOrm: string;
}

export function describeVersions(): Versions {
  const text = (cmd: string[]) => {
    const result = Bun.spawnSync(cmd, { cwd: REPO_ROOT, stderr: "ignore" });
    return result.success ? result.stdout.toString().trim() : "unknown";
  };
  const status = text(["git", "status", "--porcelain", "--", "src", "migrations", "build.ts"]);
  return {
    coursepay: text([BINARY, "--version"]),
    gitCommit: text(["git", "rev-parse", "--short", "HEAD"]),
    uncommittedSources: status === "" || status === "unknown" ? [] : status.split("\n"),
    bun: Bun.version,
    redisServer: /v=(\S+)/.exec(text(["redis-server", "--version"]))?.[1] ?? "unknown",
    ioredis: packageVersion("ioredis"),
    bullmq: packageVersion("bullmq"),
    libsqlClient: packageVersion("@libsql/client"),
    libsqlSqlite: "unknown",
    drizzleOrm: packageVersion("drizzle-orm"),
  };
}

/** The SQLite version inside the libSQL driver every database contender uses. */
export async function sqliteVersion(): Promise<string> {
  const client = createClient({ url: ":memory:" });
  try {
    const result = await client.execute("SELECT sqlite_version()");
    return String(result.rows[0]?.[0] ?? "unknown");
  } finally {
    client.close();
  }
}

/** `coursepay migrate` on a database file: every contender starts from the binary's schema. */
export function migrateWithBinary(databasePath: string, binary = BINARY): void {
  const result = Bun.spawnSync([binary, "migrate"], {
    env: { PATH: process.env.PATH ?? "", DATABASE_URL: `file:${databasePath}`, LOG_LEVEL: "warn" },
    stdout: "pipe",
    stderr: "pipe",
  });
  if (!result.success) {
    throw new Error(`coursepay migrate failed (exit ${result.exitCode}): ${result.stderr}`);
  }
}

/**
 * Starts the binary with the consumer disabled and LOG_LEVEL=info and reads its
 * `Durability synchronous=…` line: the mode as its writing connection reports it. The run's
 * workers use LOG_LEVEL=warn, which hides that line, with the same database settings.
 */
export async function probeCoursepaySynchronous(
  databasePath: string,
  redisUrl: string,
): Promise<string> {
  const proc = Bun.spawn([BINARY, "serve"], {
    env: {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: `file:${databasePath}`,
      REDIS_URL: redisUrl,
      ENABLE_EVENT_CONSUMER: "false",
      LOG_LEVEL: "info",
      LOG_FORMAT: "json",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const deadline = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  let mode = "unknown (no Durability line)";
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of proc.stdout) {
    buffered += decoder.decode(chunk, { stream: true });
    const line = buffered.split("\n").find((l) => l.includes('"Durability"'));
    if (line !== undefined) {
      mode = String((JSON.parse(line) as { synchronous?: string }).synchronous);
      break;
    }
  }
  proc.kill("SIGTERM");
  await proc.exited;
  clearTimeout(deadline);
  return mode;
}

/** `bun run build` when dist/coursepay is missing or older than its sources. True if it built. */
export const ensureBinary = ensureBinaryBuilt;
