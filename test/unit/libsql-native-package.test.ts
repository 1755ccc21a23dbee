/**
 * The build's libSQL addon lookup (src/build/): the platform package's version and integrity
 * come from bun.lock and must agree with what libsql pins; the host's package is taken from
 * node_modules; the plugin refuses an addon built for another CPU than the target's. Offline:
 * fetching another platform's package is covered by test/e2e/arm64.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { embedLibsqlNative } from "../../src/build/embed-libsql-native.ts";
import {
  integrityOf,
  libsqlNativePackage,
  lockedPlatformPackage,
} from "../../src/build/libsql-native-package.ts";

const root = resolve(import.meta.dir, "..", "..");
const lockText = readFileSync(join(root, "bun.lock"), "utf8");
const libsqlVersion = (
  JSON.parse(readFileSync(join(root, "node_modules", "libsql", "package.json"), "utf8")) as {
    version: string;
  }
).version;

describe("lockedPlatformPackage", () => {
  test("bun.lock pins both Linux glibc packages at libsql's own version, with a sha512", () => {
    for (const name of ["@libsql/linux-x64-gnu", "@libsql/linux-arm64-gnu"]) {
      const locked = lockedPlatformPackage(lockText, name);
      expect(locked.version).toBe(libsqlVersion);
      expect(locked.integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    }
  });

  test("a lockfile whose package disagrees with libsql's pin is refused", () => {
    const skewed = lockText.replace(
      `"@libsql/linux-arm64-gnu": ["@libsql/linux-arm64-gnu@${libsqlVersion}"`,
      `"@libsql/linux-arm64-gnu": ["@libsql/linux-arm64-gnu@0.0.1"`,
    );
    expect(skewed).not.toBe(lockText);
    expect(() => lockedPlatformPackage(skewed, "@libsql/linux-arm64-gnu")).toThrow(
      /bun\.lock has @libsql\/linux-arm64-gnu@0\.0\.1, but libsql pins/,
    );
  });

  test("a package libsql does not list is refused", () => {
    expect(() => lockedPlatformPackage(lockText, "@libsql/linux-riscv64-gnu")).toThrow(
      /no optional dependency/,
    );
  });
});

test("integrityOf writes npm's sha512-<base64>", () => {
  const bytes = new TextEncoder().encode("coursepay");
  expect(integrityOf(bytes)).toBe(`sha512-${createHash("sha512").update(bytes).digest("base64")}`);
});

test("the host's package comes from node_modules, at the locked version", () => {
  const native = libsqlNativePackage("bun-linux-x64", { root });
  expect(native).toMatchObject({
    name: "@libsql/linux-x64-gnu",
    version: libsqlVersion,
    source: "installed",
    dir: join(root, "node_modules", "@libsql", "linux-x64-gnu"),
  });
});

describe("embedLibsqlNative", () => {
  const x64Dir = join(root, "node_modules", "@libsql", "linux-x64-gnu");
  const build = (compileTarget: string) =>
    Bun.build({
      entrypoints: [join(root, "node_modules", "libsql", "index.js")],
      target: "bun",
      plugins: [embedLibsqlNative(compileTarget, { packageDir: x64Dir })],
      throw: false,
    });

  test("embeds the addon of packageDir with a static require", async () => {
    const result = await build("bun-linux-x64");
    expect(result.success).toBe(true);
    const code = await result.outputs.find((output) => output.kind === "entry-point")?.text();
    expect(code).not.toContain("@neon-rs/load");
    expect(code).not.toContain("detect-libc");
    // The addon became an asset of the bundle: the very file of packageDir.
    const addon = result.outputs.find((output) => output.path.endsWith(".node"));
    expect(addon?.kind).toBe("asset");
    expect(integrityOf(new Uint8Array((await addon?.arrayBuffer()) ?? new ArrayBuffer(0)))).toBe(
      integrityOf(readFileSync(join(x64Dir, "index.node"))),
    );
  });

  test("refuses an x64 addon for an arm64 target", async () => {
    const result = await build("bun-linux-arm64");
    expect(result.success).toBe(false);
    expect(result.logs.map(String).join("\n")).toContain("is not an ELF addon for arm64");
  });
});
