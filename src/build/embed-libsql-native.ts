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
 *
 * The platform package is resolved from node_modules, or taken from `packageDir` when the build
 * found it elsewhere (another platform's package, fetched by libsql-native-package.ts). A Linux
 * addon built for another CPU than the target's fails the build.
 */
import { closeSync, existsSync, openSync, readSync } from "node:fs";
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

/** ELF `e_machine` of each Linux target CPU. */
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };

/** The `e_machine` of an ELF file, or undefined when the file is not ELF. */
function elfMachine(path: string): number | undefined {
  const header = Buffer.alloc(20);
  const fd = openSync(path, "r");
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  // EI_DATA (byte 5): 1 little-endian, 2 big-endian.
  return header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
}

export interface EmbedLibsqlNativeOptions {
  /** The platform package's folder (holding index.node), instead of resolving it from node_modules. */
  packageDir?: string;
}

const REQUIRE_NATIVE = /function requireNative\(\) \{[\s\S]*?\n\}\n/;
const LOADER_IMPORTS = [
  /^const \{ load, currentTarget \} = require\("@neon-rs\/load"\);\n/m,
  /^const \{ familySync, GLIBC, MUSL \} = require\("detect-libc"\);\n/m,
];

export function embedLibsqlNative(
  compileTarget: string,
  options: EmbedLibsqlNativeOptions = {},
): BunPlugin {
  const pkg = libsqlPlatformPackage(compileTarget);
  const arch = /linux-(x64|arm64)-/.exec(pkg)?.[1];
  return {
    name: "embed-libsql-native",
    setup(build) {
      // index.js is what @libsql/client loads; promise.js (libsql/promise) has the same lookup.
      const filter = /[\\/]node_modules[\\/]libsql[\\/](index|promise)\.js$/;
      build.onLoad({ filter }, async ({ path }) => {
        let addon: string;
        if (options.packageDir) {
          addon = join(options.packageDir, "index.node");
        } else {
          // Resolve from libsql's own folder, as its run-time require would.
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
        }
        if (!existsSync(addon)) throw new Error(`embed-libsql-native: missing ${addon}`);
        const machine = arch ? elfMachine(addon) : undefined;
        if (arch && machine !== ELF_MACHINE[arch]) {
          throw new Error(
            `embed-libsql-native: ${addon} is not an ELF addon for ${arch} (e_machine ${machine}), ` +
              `needed for ${compileTarget}`,
          );
        }

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
