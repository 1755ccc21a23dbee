/**
 * Build-time only (never imported by the app): finds libsql's platform package, the one that
 * holds the N-API addon `index.node`, for a compile target.
 *
 * `bun install` installs only the host's package: libsql lists every platform's as an
 * optionalDependency restricted by `os`/`cpu`, so on an x64 host `@libsql/linux-arm64-gnu` is
 * in bun.lock but not in node_modules. For a target like that, this fetches the package's
 * tarball with `npm pack` at the exact version libsql pins, checks it against the sha512 that
 * bun.lock records (the lockfile stays the one source of truth, and `bun install
 * --frozen-lockfile` is left alone), keeps it in node_modules/.cache/coursepay/ for the next
 * build, and unpacks it into a fresh folder for this build only. A cached tarball is checked
 * again at every build; one that no longer matches is fetched again, and a fetched one that does
 * not match fails the build.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { libsqlPlatformPackage } from "./embed-libsql-native.ts";

export interface LibsqlNativePackage {
  /** e.g. `@libsql/linux-arm64-gnu` */
  name: string;
  version: string;
  /** The package folder: `index.node` is inside. */
  dir: string;
  /** `installed`: from node_modules; `fetched`: verified tarball, unpacked for this build. */
  source: "installed" | "fetched";
  /** Removes the unpacked copy of a fetched package (a no-op for an installed one). */
  cleanup(): void;
}

/** A bun.lock `packages` entry: [`name@version`, registry, metadata, integrity]. */
type LockEntry = [string, string, Record<string, unknown>, string];

interface LockedPackage {
  version: string;
  integrity: string;
}

/**
 * The version and integrity of `name` in bun.lock, and the version libsql itself pins it at:
 * the two must agree, since libsql's index.js and its addon are released together.
 */
export function lockedPlatformPackage(lockText: string, name: string): LockedPackage {
  const lock = Bun.JSONC.parse(lockText) as { packages?: Record<string, LockEntry> };
  const libsql = lock.packages?.libsql;
  const pinned = (libsql?.[2]?.optionalDependencies as Record<string, string> | undefined)?.[name];
  if (!pinned)
    throw new Error(`libsql-native: bun.lock's libsql has no optional dependency ${name}`);
  const entry = lock.packages?.[name];
  const version = entry?.[0]?.slice(entry[0].lastIndexOf("@") + 1);
  const integrity = entry?.[3] ?? "";
  if (!version || !integrity.startsWith("sha512-")) {
    throw new Error(`libsql-native: bun.lock has no version and sha512 integrity for ${name}`);
  }
  if (version !== pinned) {
    throw new Error(`libsql-native: bun.lock has ${name}@${version}, but libsql pins ${pinned}`);
  }
  return { version, integrity };
}

/** `sha512-<base64>` of the bytes, as npm and bun.lock write integrities. */
export function integrityOf(bytes: Uint8Array): string {
  return `sha512-${new Bun.CryptoHasher("sha512").update(bytes).digest("base64")}`;
}

function run(argv: string[], cwd: string): string {
  const result = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  if (!result.success) {
    throw new Error(
      `libsql-native: \`${argv.join(" ")}\` failed (exit ${result.exitCode}): ` +
        `${result.stderr.toString().trim() || result.stdout.toString().trim()}`,
    );
  }
  return result.stdout.toString();
}

/** Downloads `name@version` with `npm pack` (the npm registry configured for npm) to `dest`. */
function npmPack(name: string, version: string, cacheDir: string, dest: string): void {
  const staging = mkdtempSync(join(cacheDir, "download-"));
  try {
    const out = run(
      ["npm", "pack", `${name}@${version}`, "--pack-destination", staging, "--json", "--silent"],
      staging,
    );
    const [packed] = JSON.parse(out) as { filename: string }[];
    if (!packed?.filename) throw new Error(`libsql-native: npm pack printed no file name: ${out}`);
    renameSync(join(staging, packed.filename), dest);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

export interface LibsqlNativePackageOptions {
  /** The repository root: bun.lock and node_modules are there. */
  root: string;
  /** Where fetched tarballs are kept; default `<root>/node_modules/.cache/coursepay`. */
  cacheDir?: string;
}

/** The platform package for `compileTarget`: installed if `bun install` put it there, else fetched. */
export function libsqlNativePackage(
  compileTarget: string,
  {
    root,
    cacheDir = join(root, "node_modules", ".cache", "coursepay"),
  }: LibsqlNativePackageOptions,
): LibsqlNativePackage {
  const name = libsqlPlatformPackage(compileTarget);
  const { version, integrity } = lockedPlatformPackage(
    readFileSync(join(root, "bun.lock"), "utf8"),
    name,
  );

  // Installed: resolve it from libsql's own folder, as libsql's run-time require would.
  const libsqlDir = join(root, "node_modules", "libsql");
  try {
    const manifest = Bun.resolveSync(`${name}/package.json`, libsqlDir);
    const installed = (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
    if (installed === version) {
      return { name, version, dir: dirname(manifest), source: "installed", cleanup() {} };
    }
  } catch {
    // Not installed (another platform's package): fetch it below.
  }

  mkdirSync(cacheDir, { recursive: true });
  const tarball = join(cacheDir, `${name.replace("@", "").replace("/", "-")}-${version}.tgz`);
  const verified = (): boolean =>
    existsSync(tarball) && integrityOf(readFileSync(tarball)) === integrity;
  if (!verified()) {
    npmPack(name, version, cacheDir, tarball);
    if (!verified()) {
      rmSync(tarball, { force: true });
      throw new Error(
        `libsql-native: ${name}@${version} from the registry does not match bun.lock's ${integrity}`,
      );
    }
  }

  // A folder of this build's own: builds running side by side never see each other's files.
  const unpacked = mkdtempSync(join(cacheDir, "unpacked-"));
  const cleanup = () => rmSync(unpacked, { recursive: true, force: true });
  try {
    run(["tar", "-xzf", tarball, "-C", unpacked], unpacked);
  } catch (error) {
    cleanup();
    throw error;
  }
  // npm tarballs hold their files under `package/`.
  return { name, version, dir: join(unpacked, "package"), source: "fetched", cleanup };
}
