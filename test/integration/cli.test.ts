/**
 * The command line through the real entry point (`bun src/main.ts`): commander's suggestions,
 * help per command, errors that name their command, exit codes, and `coursepay config`. None of
 * these reaches Redis or the database.
 */
import { describe, expect, test } from "bun:test";
import { hostname } from "node:os";
import { CONFIG_VARIABLES } from "../../src/config/config.ts";
import { runCoursepay } from "../support/run-coursepay.ts";

const NO_REDIS = "redis://127.0.0.1:1";

describe("commands and help", () => {
  const typos: [string[], string][] = [
    [["stauts"], "coursepay: unknown command 'stauts' (did you mean status?)"],
    [["help", "stauts"], "coursepay: unknown command 'stauts' (did you mean status?)"],
    [["enrolments"], "coursepay: unknown command 'enrolments' (did you mean enrollments?)"],
    [["frobnicate"], "coursepay: unknown command 'frobnicate' (see coursepay --help)"],
    [["dlq", "rply"], "coursepay: dlq: unknown command 'rply' (did you mean replay?)"],
    [
      ["simulate", "payment-succeeded", "--langauge", "de"],
      "coursepay: simulate payment-succeeded: unknown option '--langauge' (did you mean --language?)",
    ],
    [
      ["enrollments", "--tenant", "t1", "--jsn"],
      "coursepay: enrollments: unknown option '--jsn' (did you mean --json?)",
    ],
    [
      ["status", "--bogus"],
      "coursepay: status: unknown option '--bogus' (see coursepay status --help)",
    ],
    [["--bogus"], "coursepay: serve: unknown option '--bogus' (see coursepay serve --help)"],
    [
      ["serve", "extra"],
      "coursepay: serve: too many arguments. Expected 0 arguments but got 1: extra.",
    ],
    [["dlq", "list", "--limit"], "coursepay: dlq list: option '--limit <N>' argument missing"],
  ];
  for (const [args, message] of typos) {
    test(`coursepay ${args.join(" ")}: exit 2, one line naming the command`, async () => {
      const run = await runCoursepay(args, { REDIS_URL: NO_REDIS });
      expect(run).toEqual({ code: 2, stdout: "", stderr: `${message}\n` });
    });
  }

  test("--help, -h and help list every command and point at config", async () => {
    const runs = await Promise.all([["--help"], ["-h"], ["help"]].map((a) => runCoursepay(a)));
    for (const run of runs) {
      expect(run).toMatchObject({ code: 0, stderr: "", stdout: runs[0]?.stdout });
    }
    const help = runs[0]?.stdout ?? "";
    expect(help).toStartWith("Usage: coursepay [command] [options]\n");
    for (const command of [
      "serve",
      "migrate",
      "simulate",
      "dlq",
      "status",
      "enrollments",
      "config",
    ]) {
      expect(help).toMatch(new RegExp(`^ {2}${command}\\b`, "m"));
    }
    expect(help).toContain("`coursepay config` lists every one");
    expect(help).not.toContain("README");
  });

  test("help <command> is <command> --help, and shows that command only", async () => {
    for (const args of [["status"], ["simulate", "load"], ["dlq", "purge"]]) {
      const viaHelp = await runCoursepay(["help", ...args]);
      const viaOption = await runCoursepay([...args, "--help"]);
      expect(viaHelp).toEqual(viaOption);
      expect(viaHelp.code).toBe(0);
      expect(viaHelp.stdout).toStartWith(`Usage: coursepay ${args.join(" ")} `);
    }
    const status = await runCoursepay(["help", "status"]);
    expect(status.stdout).not.toContain("--tenant");
    const load = await runCoursepay(["help", "simulate", "load"]);
    expect(load.stdout).toContain("--count <N>");
    expect(load.stdout).not.toContain("--payment-trace-id");
  });

  test("--version, -v and version print the version, then commit, build date, Bun and target", async () => {
    const runs = await Promise.all(
      [["--version"], ["-v"], ["version"]].map((a) => runCoursepay(a)),
    );
    for (const run of runs)
      expect(run).toEqual({ code: 0, stderr: "", stdout: runs[0]?.stdout ?? "" });
    expect(runs[0]?.stdout).toBe(
      [
        "coursepay 0.1.0",
        "commit: unknown",
        "built:  not built (running from source)",
        `bun:    ${Bun.version}`,
        "target: source",
        "",
      ].join("\n"),
    );
  });
});

describe("coursepay config", () => {
  test("lists every setting with the value in force, the default and what it accepts", async () => {
    const run = await runCoursepay(["config"], { BATCH_SIZE: " 200 " });
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const names = [...run.stdout.matchAll(/^([A-Z_]+) = /gm)].map((m) => m[1]);
    expect(names).toEqual([...CONFIG_VARIABLES]);
    expect(run.stdout).toContain(
      "BATCH_SIZE = 200\n    default: 500\n    accepts: 1–10000 entries",
    );
    expect(run.stdout).toContain("BLOCK_MS = 2000  (default)\n    default: 2000\n");
    expect(run.stdout).toContain(
      `CONSUMER_NAME = ${hostname()}  (default)\n    default: the host name\n`,
    );
    expect(run.stdout).toContain("HTTP_PORT = (unset)\n    default: —\n");
  });

  test("never shows a secret: passwords in URLs redacted, tokens and secrets only as set", async () => {
    const run = await runCoursepay(["config"], {
      REDIS_URL: "redis://:pw-zq81@127.0.0.1:6379",
      DATABASE_URL: "libsql://db.example.com?authToken=tok-zq81",
      DATABASE_AUTH_TOKEN: "token-zq81",
      PAYCORE_SIGNING_SECRET: "new-zq81,old-zq81",
    });
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain("zq81");
    expect(run.stdout).toContain("REDIS_URL = redis://:***@127.0.0.1:6379\n");
    expect(run.stdout).toContain("DATABASE_URL = libsql://db.example.com?authToken=***\n");
    expect(run.stdout).toContain("DATABASE_AUTH_TOKEN = (set)\n");
    expect(run.stdout).toContain("PAYCORE_SIGNING_SECRET = (set: 2 secrets)\n");
  });

  test("a value start-up would refuse is marked, reported as serve reports it, exit 2", async () => {
    const env = { BATCH_SIZE: "abc", CLAIM_IDLE_MS: "1000", BATCHSIZE: "3" };
    const run = await runCoursepay(["config"], env);
    const serve = await runCoursepay(["serve"], { ...env, REDIS_URL: NO_REDIS });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(serve.stderr);
    expect(run.stdout).toContain(
      'BATCH_SIZE = INVALID: expected an integer from 1 to 10000, got "abc"\n',
    );
    expect(run.stdout).toContain(
      "DATABASE_BUSY_TIMEOUT_MS = INVALID: expected an integer from 0 to 333",
    );
    expect(run.stdout).toContain(
      "warning: BATCHSIZE is not a variable coursepay reads and is ignored; did you mean BATCH_SIZE?",
    );
  });

  test("--json: one object per setting", async () => {
    const run = await runCoursepay(["config", "--json"], { LOG_LEVEL: "debug" });
    expect(run.code).toBe(0);
    const settings = JSON.parse(run.stdout) as Record<string, unknown>[];
    expect(settings.map((s) => s.variable)).toEqual([...CONFIG_VARIABLES]);
    expect(settings.find((s) => s.variable === "LOG_LEVEL")).toEqual({
      variable: "LOG_LEVEL",
      value: "debug",
      source: "environment",
      default: "info",
      accepts: "`debug/info/warn/error`",
    });
    expect(settings.find((s) => s.variable === "HTTP_PORT")).toMatchObject({
      value: null,
      source: "unset",
    });
  });

  test("escapes control characters in values", async () => {
    const run = await runCoursepay(["config"], { EVENT_STREAM: "a\u001b[31mb" });
    expect(run.stdout).not.toContain("\u001b");
  });
});
