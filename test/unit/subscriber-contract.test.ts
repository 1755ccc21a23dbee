import { describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { EVENT_SCHEMAS } from "../../src/contract/event-schema.ts";
import { CoursePaymentSubscriber } from "../../src/course/course-payment-subscriber.ts";
import { MonetizationService } from "../../src/course/monetization-service.ts";
import { silentLogger } from "../../src/observe/logger.ts";

const root = resolve(import.meta.dir, "..", "..");
const contract = join(root, "test", "types", "subscriber-contract.ts");

/** tsc on just these files (the project's options), from a tsconfig written beside them. */
function typecheck(files: string[]): { code: number; output: string } {
  const config = join(root, "test", "types", `.tsconfig-${process.pid}-${Date.now()}.json`);
  writeFileSync(config, JSON.stringify({ extends: "../../tsconfig.json", include: files }));
  try {
    const run = Bun.spawnSync([join(root, "node_modules", ".bin", "tsc"), "-p", config], {
      cwd: root,
    });
    return { code: run.exitCode, output: run.stdout.toString() + run.stderr.toString() };
  } finally {
    rmSync(config, { force: true });
  }
}

describe("the subscriber contract, at compile time", () => {
  test("test/types/subscriber-contract.ts compiles: every mismatch it marks is refused", () => {
    const run = typecheck([contract]);
    expect(run.output).toBe("");
    expect(run.code).toBe(0);
  });

  test("without its @ts-expect-error lines, tsc refuses exactly those five mismatches", () => {
    const probe = join(root, "test", "types", `.probe-${process.pid}-${Date.now()}.ts`);
    const source = readFileSync(contract, "utf8");
    writeFileSync(probe, source.replace(/\/\/ @ts-expect-error.*$/gm, "// (refused)"));
    try {
      const run = typecheck([probe]);
      const errors = run.output.split("\n").filter((line) => line.includes("error TS"));
      const expectedLines = source
        .split("\n")
        .flatMap((line, i) => (line.trim().startsWith("// @ts-expect-error") ? [i + 2] : []));
      expect(errors.map((line) => Number(/\((\d+),\d+\)/.exec(line)?.[1]))).toEqual(expectedLines);
      expect(run.code).not.toBe(0);
    } finally {
      rmSync(probe, { force: true });
    }
  });
});

describe("event types", () => {
  test("course_payment_subscriber handles the three payment types of EVENT_SCHEMAS", () => {
    const subscriber = new CoursePaymentSubscriber(new MonetizationService(), silentLogger());
    expect<string[]>([...subscriber.eventTypes].sort()).toEqual(Object.keys(EVENT_SCHEMAS).sort());
  });
});
