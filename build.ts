/**
 * `bun run build`: compiles src/main.ts into one self-contained executable, dist/coursepay.
 * The binary must run alone (no node_modules beside it), so libsql's native addon is embedded
 * by the embed-libsql-native plugin.
 *
 *   bun run build                           dist/coursepay (linux-x64, glibc)
 *   bun run build -- --target linux-arm64   dist/coursepay-linux-arm64 (cross-compiled)
 *   bun run build -- --outfile PATH         another output file (release.ts uses it)
 *   bun run release                         both, packed into dist/release/ (src/build/release.ts);
 *                                           `--target T` for one, `--out-dir D` elsewhere
 */
import { statSync } from "node:fs";
import { parseArgs } from "node:util";
import pkg from "./package.json" with { type: "json" };
import { embedLibsqlNative } from "./src/build/embed-libsql-native.ts";
import { libsqlNativePackage } from "./src/build/libsql-native-package.ts";
import { release } from "./src/build/release.ts";
import { isTargetName, TARGET_NAMES, TARGETS } from "./src/build/targets.ts";

const { values: args } = parseArgs({
  options: {
    target: { type: "string" },
    outfile: { type: "string" },
    release: { type: "boolean", default: false },
    "out-dir": { type: "string" },
  },
});
const targetName = args.target ?? "linux-x64";
if (!isTargetName(targetName)) {
  console.error(`unknown --target ${targetName}: one of ${TARGET_NAMES.join(", ")}`);
  process.exit(2);
}

if (args.release) {
  const artifacts = await release({
    root: import.meta.dir,
    version: pkg.version,
    targets: args.target ? [targetName] : TARGET_NAMES,
    outDir: args["out-dir"],
  }).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
  for (const { tarball, bytes } of artifacts) {
    console.log(`${tarball}: ${(bytes / 1024 / 1024).toFixed(1)} MiB`);
  }
  process.exit(0);
}

const target = TARGETS[targetName].bun;
const outfile = args.outfile ?? TARGETS[targetName].outfile;

// "0.1.0+abc1234" when built from a git checkout, plain "0.1.0" otherwise (e.g. a tarball).
const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { stderr: "ignore" });
const commit = git.success ? git.stdout.toString().trim() : "";
const version = commit ? `${pkg.version}+${commit}` : pkg.version;
// Uncommitted changes (untracked files included) make the commit an incomplete description.
const status = commit
  ? Bun.spawnSync(["git", "status", "--porcelain"], { stderr: "ignore" })
  : undefined;
const dirty = status?.success === true && status.stdout.toString().trim() !== "";
// SOURCE_DATE_EPOCH (reproducible builds) fixes the date; otherwise now.
const epoch = Number(process.env.SOURCE_DATE_EPOCH);
const builtAt = new Date(Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : Date.now())
  .toISOString()
  .replace(/\.\d{3}Z$/, "Z");

const started = performance.now();
// The host's libsql addon comes from node_modules; another platform's is fetched and checked
// against bun.lock (src/build/libsql-native-package.ts).
const native = (() => {
  try {
    return libsqlNativePackage(target, { root: import.meta.dir });
  } catch (error) {
    console.error(`build failed (${target}): ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
})();
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
  // src/version.ts reads it as `COURSEPAY_BUILD` (undefined under `bun src/main.ts`).
  define: {
    COURSEPAY_BUILD: JSON.stringify({ version, commit, dirty, builtAt, target }),
  },
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
  plugins: [embedLibsqlNative(target, { packageDir: native.dir })],
  throw: false,
})
  .catch((error: unknown) => ({ success: false as const, logs: [error] }))
  .finally(() => native.cleanup());

if (!result.success) {
  console.error(`build failed (${target}):`);
  for (const log of result.logs) console.error(log);
  process.exit(1);
}

const mib = (statSync(outfile).size / 1024 / 1024).toFixed(1);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
const driver = `${native.name}@${native.version}, ${native.source}`;
const state = dirty ? ", dirty" : "";
console.log(`${outfile} ${version} (${target}${state}, ${driver}): ${mib} MiB in ${seconds} s`);
