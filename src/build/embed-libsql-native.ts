/**
 * Build-time Bun plugin (never imported by the app): embeds libsql's N-API addon in a
 * `bun build --compile` executable.
 *
 * node_modules/libsql/index.js picks its addon at run time with
 * `require(\`@libsql/${target}\`)`. The bundler cannot follow a template string, so the
 * compiled binary would look for node_modules/@libsql/<target> next to itself and fail.
 * Bun embeds a `.node` file only when it is required statically, so this plugin rewrites
 * `requireNative()` into `return require("<absolute path>/index.node")` for the platform of
 * the compile target, and drops the `@neon-rs/load`/`detect-libc` imports that only served
 * the run-time lookup (detect-libc would otherwise spawn `ldd` / read files at start-up).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type { BunPlugin } from "bun";

/** Maps a Bun compile target (`bun-linux-x64`, `bun-linux-arm64-musl`, …) to libsql's platform package. */
export function libsqlPlatformPackage(compileTarget: string): string {
  const os = /-(linux|darwin|windows)-/.exec(compileTarget)?.[1];
  const arch = /-(x64|arm64|aarch64)\b/.exec(compileTarget)?.[1]?.replace("aarch64", "arm64");
  if (!os || !arch)
    throw new Error(`embed-libsql-native: unsupported compile target ${compileTarget}`);
  if (os === "linux")
    return `@libsql/linux-${arch}-${compileTarget.includes("musl") ? "musl" : "gnu"}`;
  if (os === "windows") return `@libsql/win32-${arch}-msvc`;
  return `@libsql/darwin-${arch}`;
}

const REQUIRE_NATIVE = /function requireNative\(\) \{[\s\S]*?\n\}\n/;
const LOADER_IMPORTS = [
  /^const \{ load, currentTarget \} = require\("@neon-rs\/load"\);\n/m,
  /^const \{ familySync, GLIBC, MUSL \} = require\("detect-libc"\);\n/m,
];

export function embedLibsqlNative(compileTarget: string): BunPlugin {
  const pkg = libsqlPlatformPackage(compileTarget);
  return {
    name: "embed-libsql-native",
    setup(build) {
      // index.js is what @libsql/client loads; promise.js (libsql/promise) has the same lookup.
      const filter = /[\\/]node_modules[\\/]libsql[\\/](index|promise)\.js$/;
      build.onLoad({ filter }, async ({ path }) => {
        // Resolve from libsql's own folder, as its run-time require would.
        let addon: string;
        try {
          addon = join(
            dirname(Bun.resolveSync(`${pkg}/package.json`, dirname(path))),
            "index.node",
          );
        } catch {
          throw new Error(
            `embed-libsql-native: ${pkg} is not installed (needed for ${compileTarget})`,
          );
        }
        if (!existsSync(addon)) throw new Error(`embed-libsql-native: missing ${addon}`);

        let source = await Bun.file(path).text();
        // Fail the build if libsql changed shape, instead of shipping a binary that cannot load.
        if (!REQUIRE_NATIVE.test(source)) {
          throw new Error(`embed-libsql-native: requireNative() not found in ${path}`);
        }
        source = source.replace(
          REQUIRE_NATIVE,
          `function requireNative() {\n  return require(${JSON.stringify(addon)});\n}\n`,
        );
        for (const line of LOADER_IMPORTS) source = source.replace(line, "");
        return { contents: source, loader: "js" };
      });
    },
  };
}
