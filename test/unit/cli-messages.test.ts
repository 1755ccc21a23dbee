import { describe, expect, test } from "bun:test";
import { describeFailure, driverLoadFailure } from "../../src/cli/describe-failure.ts";
import { formatCommanderError } from "../../src/cli/program.ts";
import { UsageError } from "../../src/cli/usage-error.ts";
import { formatBuildInfo } from "../../src/version.ts";

describe("formatCommanderError", () => {
  test("one line that names the command, the suggestion on the same line", () => {
    expect(
      formatCommanderError(
        "simulate payment-succeeded",
        "error: unknown option '--langauge'\n(Did you mean --language?)\n",
      ),
    ).toBe(
      "coursepay: simulate payment-succeeded: unknown option '--langauge' (did you mean --language?)\n",
    );
    expect(formatCommanderError("", "error: unknown command 'x'\n")).toBe(
      "coursepay: unknown command 'x' (see coursepay --help)\n",
    );
    expect(
      formatCommanderError(
        "serve",
        "error: too many arguments for 'serve'. Expected 0 arguments but got 1: x.\n",
      ),
    ).toBe("coursepay: serve: too many arguments. Expected 0 arguments but got 1: x.\n");
  });
});

describe("a driver that cannot be loaded", () => {
  const dlopen = Object.assign(
    new Error("/$bunfs/root/index-a43dvtnz.node: cannot open shared object file"),
    { code: "ERR_DLOPEN_FAILED" },
  );

  test("names TMPDIR, its value and what to do", () => {
    const message = driverLoadFailure(dlopen, { TMPDIR: "/nope" }) ?? "";
    expect(message).toContain("(/$bunfs/root/index-a43dvtnz.node: cannot open shared object file)");
    expect(message).toContain('coursepay unpacks it into TMPDIR ("/nope")');
    expect(message).toContain("not mounted noexec, e.g. TMPDIR=/var/tmp");
    expect(driverLoadFailure(dlopen, {})).toContain("TMPDIR (unset, so /tmp)");
  });

  test("is a configuration problem (exit 2); other errors are not taken for it", () => {
    expect(describeFailure(dlopen).code).toBe(2);
    expect(driverLoadFailure(new Error("boom"))).toBeUndefined();
    expect(driverLoadFailure(null)).toBeUndefined();
    expect(describeFailure(new Error("boom"))).toEqual({ message: "boom", code: 1 });
    expect(describeFailure(new UsageError("bad"))).toEqual({ message: "bad", code: 2 });
  });

  test("errors of driver modules are told apart by name, without loading those modules", () => {
    const folder = Object.assign(new Error("DATABASE_URL: the folder …"), {
      name: "DatabaseFolderMissingError",
    });
    const unreachable = Object.assign(new Error("Redis at … is unreachable"), {
      name: "UnreachableError",
    });
    expect(describeFailure(folder).code).toBe(2);
    expect(describeFailure(unreachable).code).toBe(1);
  });
});

describe("formatBuildInfo", () => {
  test("the version first, then commit with the dirty flag, build date, Bun and target", () => {
    const info = {
      version: "1.2.3+abc1234",
      commit: "abc1234",
      dirty: true,
      builtAt: "2026-12-02T10:00:00Z",
      bun: "1.4.5",
      target: "bun-linux-arm64",
    };
    expect(formatBuildInfo(info)).toBe(
      [
        "coursepay 1.2.3+abc1234",
        "commit: abc1234 (dirty: uncommitted changes)",
        "built:  2026-12-02T10:00:00Z",
        "bun:    1.4.5",
        "target: bun-linux-arm64",
      ].join("\n"),
    );
    expect(formatBuildInfo({ ...info, dirty: false }).split("\n")[1]).toBe("commit: abc1234");
  });
});
