/**
 * Build-time only: `bun run release` (`bun build.ts --release [--target T] [--out-dir D]`).
 *
 * For each target, one tarball `coursepay-<version>-<target>.tar.gz` in `dist/release/`,
 * holding one folder of the same name:
 *
 *   coursepay              the binary, freshly built for the target (build.ts --target)
 *   coursepay.service      systemd unit, one worker (deploy/systemd/, docs/deployment.md §3)
 *   coursepay@.service     templated unit, several workers on one host (§4)
 *   coursepay.env.example  the environment file (§2)
 *   SHA256SUMS             the SHA-256 of each file above, for `sha256sum -c SHA256SUMS`
 *
 * and `dist/release/SHA256SUMS` over the tarballs built. The tarballs are reproducible given
 * the same binaries: entries sorted, owner root, every mtime the commit's time (or
 * SOURCE_DATE_EPOCH), and no name or time in the gzip header.
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { TARGETS, type TargetName } from "./targets.ts";

/** The files of deploy/systemd/ that go into every tarball, beside the binary. */
export const DEPLOY_FILES = ["coursepay.service", "coursepay@.service", "coursepay.env.example"];

export interface ReleaseOptions {
  /** The repository root (build.ts, deploy/ and package.json are there). */
  root: string;
  /** package.json's version: the tarballs are named after it. */
  version: string;
  targets: readonly TargetName[];
  /** Default `<root>/dist/release`. */
  outDir?: string;
}

export interface ReleaseArtifact {
  target: TargetName;
  tarball: string;
  sha256: string;
  bytes: number;
}

export function sha256Hex(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** `sha256sum`'s format: `<hex>  <name>` per line, in the order given. */
export function sha256sums(files: { name: string; bytes: Uint8Array }[]): string {
  return files.map(({ name, bytes }) => `${sha256Hex(bytes)}  ${name}\n`).join("");
}

async function exec(argv: string[], cwd: string): Promise<void> {
  const proc = Bun.spawn(argv, { cwd, stdout: "inherit", stderr: "inherit" });
  if ((await proc.exited) !== 0) {
    throw new Error(`release: \`${argv.join(" ")}\` failed (exit ${proc.exitCode})`);
  }
}

/** Seconds since the epoch for every entry's mtime: SOURCE_DATE_EPOCH, the commit's time, or now. */
function sourceDateEpoch(root: string): string {
  const fromEnv = process.env.SOURCE_DATE_EPOCH;
  if (fromEnv && /^\d+$/.test(fromEnv)) return fromEnv;
  const git = Bun.spawnSync(["git", "log", "-1", "--format=%ct"], { cwd: root, stderr: "ignore" });
  const commitTime = git.success ? git.stdout.toString().trim() : "";
  return /^\d+$/.test(commitTime) ? commitTime : String(Math.floor(Date.now() / 1000));
}

async function releaseTarget(
  target: TargetName,
  { root, version, outDir }: Required<Omit<ReleaseOptions, "targets">>,
  epoch: string,
): Promise<ReleaseArtifact> {
  const name = `coursepay-${version}-${target}`;
  const folder = join(outDir, name);
  const tarball = join(outDir, `${name}.tar.gz`);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  try {
    const binary = join(folder, "coursepay");
    await exec([process.execPath, "build.ts", "--target", target, "--outfile", binary], root);
    // The binary embeds its source map already; the linked copy beside it is not shipped.
    rmSync(`${binary}.map`, { force: true });
    chmodSync(binary, 0o755);
    for (const file of DEPLOY_FILES) {
      copyFileSync(join(root, "deploy", "systemd", file), join(folder, file));
      chmodSync(join(folder, file), 0o644);
    }
    const shipped = ["coursepay", ...DEPLOY_FILES];
    writeFileSync(
      join(folder, "SHA256SUMS"),
      sha256sums(shipped.map((file) => ({ name: file, bytes: readFileSync(join(folder, file)) }))),
    );
    await exec(
      [
        "tar",
        "--sort=name",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        `--mtime=@${epoch}`,
        "--use-compress-program=gzip -n -6",
        "-cf",
        tarball,
        "-C",
        outDir,
        name,
      ],
      root,
    );
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  const bytes = readFileSync(tarball);
  return { target, tarball, sha256: sha256Hex(bytes), bytes: bytes.length };
}

/** Builds and packs every target side by side; writes `<outDir>/SHA256SUMS` over the tarballs. */
export async function release(options: ReleaseOptions): Promise<ReleaseArtifact[]> {
  const outDir = options.outDir ?? join(options.root, "dist", "release");
  mkdirSync(outDir, { recursive: true });
  const epoch = sourceDateEpoch(options.root);
  for (const target of options.targets) {
    if (!(target in TARGETS)) throw new Error(`release: unknown target ${target}`);
  }
  const artifacts = await Promise.all(
    options.targets.map((target) =>
      releaseTarget(target, { root: options.root, version: options.version, outDir }, epoch),
    ),
  );
  writeFileSync(
    join(outDir, "SHA256SUMS"),
    artifacts.map(({ tarball, sha256 }) => `${sha256}  ${basename(tarball)}\n`).join(""),
  );
  return artifacts;
}
