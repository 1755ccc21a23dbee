/**
 * `bun run build`: compiles src/main.ts into one self-contained executable, dist/coursepay.
 * The binary must run alone (no node_modules beside it), so libsql's native addon is embedded
 * by the embed-libsql-native plugin.
 */
import { statSync } from "node:fs";
import pkg from "./package.json" with { type: "json" };
import { embedLibsqlNative } from "./src/build/embed-libsql-native.ts";

// Linux x64 glibc. No -baseline/-modern suffix: Bun 1.4 ships one x64 binary (Nehalem/SSE4.2
// floor, AVX2/AVX-512 picked at run time) and both suffixes resolve to it, so the plain target
// runs on this Xeon and on older hosts alike, and it reuses the running bun: no download.
const target = "bun-linux-x64";
const outfile = "dist/coursepay";

// "0.1.0+abc1234" when built from a git checkout, plain "0.1.0" otherwise (e.g. a tarball).
const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { stderr: "ignore" });
const commit = git.success ? git.stdout.toString().trim() : "";
const version = commit ? `${pkg.version}+${commit}` : pkg.version;

const started = performance.now();
const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  compile: {
    target,
    outfile,
    // The binary's configuration is its environment only: a stray .env or bunfig.toml in the
    // working directory must not change what it does.
    autoloadDotenv: false,
    autoloadBunfig: false,
  },
  // Read in the app as `process.env.COURSEPAY_VERSION` (undefined under `bun src/main.ts`).
  define: { "process.env.COURSEPAY_VERSION": JSON.stringify(version) },
  // No identifier mangling: it would turn function names in stack traces into `e`, `t`, …
  // for a saving that is nothing next to the ~110 MB runtime.
  minify: { whitespace: true, syntax: true, identifiers: false },
  // Compiled binaries embed the map (zstd) and remap stack traces to src/ lines by themselves;
  // "linked" also writes dist/coursepay.map, which the binary does not need.
  sourcemap: "linked",
  // Parse at build time: `--version`/`simulate` start in ~15 ms instead of ~32 ms (+8 MB).
  // Bytecode with top-level await needs ESM output.
  bytecode: true,
  format: "esm",
  plugins: [embedLibsqlNative(target)],
  throw: false,
}).catch((error: unknown) => ({ success: false as const, logs: [error] }));

if (!result.success) {
  console.error(`build failed (${target}):`);
  for (const log of result.logs) console.error(log);
  process.exit(1);
}

const mib = (statSync(outfile).size / 1024 / 1024).toFixed(1);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`${outfile} ${version} (${target}): ${mib} MiB in ${seconds} s`);
