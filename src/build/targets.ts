/**
 * Build-time only: the platforms `bun run build -- --target <name>` compiles for, with the Bun
 * compile target and the output file of each. Both are Linux with glibc.
 */
export const TARGETS = {
  // No -baseline/-modern suffix: Bun 1.4 ships one x64 binary (Nehalem/SSE4.2 floor,
  // AVX2/AVX-512 picked at run time) and both suffixes resolve to it, so the plain target runs
  // on this Xeon and on older hosts alike, and it reuses the running bun: no download.
  "linux-x64": { bun: "bun-linux-x64", outfile: "dist/coursepay" },
  // Cross-compiled: Bun fetches its bun-linux-aarch64 runtime from the npm registry once
  // (~/.bun/install/cache); libsql's arm64 addon comes from libsql-native-package.ts.
  "linux-arm64": { bun: "bun-linux-arm64", outfile: "dist/coursepay-linux-arm64" },
} as const;

export type TargetName = keyof typeof TARGETS;

export const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];

export function isTargetName(name: string): name is TargetName {
  return Object.hasOwn(TARGETS, name);
}
