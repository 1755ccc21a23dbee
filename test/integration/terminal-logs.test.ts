/**
 * How logs reach people and the journal, through real processes: pretty lines on a terminal
 * (a pseudo-terminal from util-linux `script`), coloured unless NO_COLOR is set, and JSON lines
 * with their sd-daemon priority when stdout is the journal stream JOURNAL_STREAM names.
 */
import { describe, expect, test } from "bun:test";
import { journalPrefix, stdoutIsJournal } from "../../src/observe/journal.ts";
import { formatLine, formatMessage } from "../../src/observe/pretty-log-destination.ts";
import { REPO_ROOT } from "../support/binary.ts";
import { tempDatabaseUrl } from "../support/fixtures.ts";

const ESC = "\u001b";

/** Runs `command` (a shell line) in bash with `env`; its stdout as it arrived. */
async function sh(command: string, env: Record<string, string>): Promise<string> {
  const child = Bun.spawn(["bash", "-c", command], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (code !== 0) throw new Error(`exit ${code}: ${stdout}\n${stderr}`);
  return stdout;
}

/** `coursepay migrate` on a fresh database, with an unknown COURSEPAY_ variable (a warning). */
const MIGRATE = `${process.execPath} src/main.ts migrate`;

function migrateEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: tempDatabaseUrl().url, COURSEPAY_TYPO: "1", ...extra };
}

/** `command` on a pseudo-terminal (stdout is a TTY), as `script` records it. */
function onTerminal(command: string): string {
  return `script -qefc ${JSON.stringify(command)} /dev/null`;
}

describe("pretty logs on a terminal", () => {
  test("coloured by default, with the date, one line per record", async () => {
    const out = await sh(onTerminal(MIGRATE), migrateEnv());
    const lines = out.split(/\r?\n/).filter((line) => line.trim() !== "");
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(out).toContain(`${ESC}[33mWARN`);
    expect(out).toContain(`${ESC}[32mINFO`);
    for (const line of lines) expect(line).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z\] /);
    expect(out).toContain("Database is up to date");
  });

  test("NO_COLOR: the same lines without one escape", async () => {
    const out = await sh(onTerminal(MIGRATE), migrateEnv({ NO_COLOR: "1" }));
    expect(out).toContain("WARN");
    expect(out).toContain("Database is up to date");
    expect(out).not.toContain(ESC);
  });

  test("values with spaces or quotes are quoted, event data is escaped", () => {
    expect(
      formatMessage({
        msg: "Granted\nINFO forged",
        tenant_id: "t1",
        user: "Ada Lovelace",
        quote: 'say "hi"',
        empty: "",
        n: 3,
        nested: { a: "b c" },
        evil: "x\u001b[2J\u202e",
      }),
    ).toBe(
      'Granted\\u000aINFO forged  tenant_id=t1 user="Ada Lovelace" quote="say \\"hi\\"" empty="" n=3 nested={"a":"b c"} evil=x\\u001b[2J\\u202e',
    );
    const line = formatLine(
      JSON.stringify({
        level: "info",
        time: "2026-11-26T08:00:01.234Z",
        msg: "[CoursePayment] Granting course access",
        tenant_id: "t1",
        trace_id: "evt 1",
      }),
    );
    expect(line).toBe(
      '[2026-11-26 08:00:01.234Z] INFO: [CoursePayment] Granting course access  tenant_id=t1 trace_id="evt 1"',
    );
  });
});

describe("JSON logs to the journal", () => {
  // JOURNAL_STREAM as systemd sets it: the device and inode of the stream stdout is.
  const AS_JOURNAL = 'export JOURNAL_STREAM=$(stat -L -c "%d:%i" /proc/$$/fd/1); exec ';

  test("each line carries its sd-daemon priority when stdout is the journal stream", async () => {
    const out = await sh(AS_JOURNAL + MIGRATE, migrateEnv({ LOG_FORMAT: "json" }));
    const lines = out.trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) {
      const prefix = /^<(\d)>/.exec(line)?.[1];
      const level = (JSON.parse(line.slice(3)) as { level: string }).level;
      expect({ level, prefix }).toEqual({ level, prefix: level === "warn" ? "4" : "6" });
    }
    expect(lines.some((line) => line.startsWith("<4>"))).toBe(true);
  });

  test("every level has its priority: fatal and error 3, warn 4, info 6, debug and trace 7", async () => {
    const script = `const { createLogger } = await import("./src/observe/logger.ts");
      const log = createLogger({ level: "trace", format: "json" });
      log.trace("t"); log.debug("d"); log.info("i"); log.warn("w"); log.error("e"); log.fatal("f");`;
    const out = await sh(`${AS_JOURNAL}${process.execPath} -e '${script}'`, {});
    expect(out.split("\n").map((line) => line.slice(0, 3))).toEqual([
      "<7>",
      "<7>",
      "<6>",
      "<4>",
      "<3>",
      "<3>",
      "",
    ]);
  });

  test("no prefix when JOURNAL_STREAM names another stream (stdout redirected, or a stale value)", async () => {
    const out = await sh(MIGRATE, migrateEnv({ LOG_FORMAT: "json", JOURNAL_STREAM: "1:2" }));
    for (const line of out.trim().split("\n")) expect(line).toStartWith('{"level":"');
    expect(stdoutIsJournal(undefined)).toBe(false);
    expect(stdoutIsJournal("garbage")).toBe(false);
  });

  test("journalPrefix reads the level from the line's start", () => {
    expect(journalPrefix('{"level":"error","msg":"x"}')).toBe("<3>");
    expect(journalPrefix('{"level":"info"')).toBe("<6>");
    expect(journalPrefix("not json")).toBe("<6>");
  });
});
