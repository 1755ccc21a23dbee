/**
 * `bun run release`, as an operator's release would be built: one command builds both targets
 * and packs each into a tarball with the systemd units, the env file and SHA256SUMS. Run here
 * into a temp folder (`--out-dir`) so that dist/ is left alone; checks each tarball's listing,
 * owners and modes, that both SHA256SUMS verify with `sha256sum -c`, that the shipped deploy
 * files are the repository's, and that each binary is for its CPU (the x64 one also runs).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { DEPLOY_FILES } from "../../src/build/release.ts";
import { REPO_ROOT } from "../support/binary.ts";

const TARGETS = [
  { name: "linux-x64", elfMachine: 62 },
  { name: "linux-arm64", elfMachine: 183 },
] as const;

let outDir = "";
let release: { exitCode: number | null; stdout: string; stderr: string };

function sh(argv: string[], cwd: string) {
  const result = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  return {
    exitCode: result.exitCode,
    stdout: result.stdout.toString(),
    stderr: result.stderr.toString(),
  };
}

function elfMachine(path: string): number {
  const header = Buffer.alloc(20);
  const fd = openSync(path, "r");
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  return header.readUInt16LE(18);
}

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), "coursepay-release-"));
  const proc = Bun.spawn([process.execPath, "run", "release", "--", "--out-dir", outDir], {
    cwd: REPO_ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  release = { exitCode: proc.exitCode, stdout, stderr };
}, 150_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe("bun run release", () => {
  test("exits 0 and writes one tarball per target and SHA256SUMS over them", () => {
    expect(release).toMatchObject({ exitCode: 0 });
    const names = TARGETS.map(({ name }) => `coursepay-${pkg.version}-${name}.tar.gz`);
    expect(sh(["ls", "-1"], outDir).stdout.trim().split("\n").sort()).toEqual(
      [...names, "SHA256SUMS"].sort(),
    );
    const sums = sh(["sha256sum", "-c", "SHA256SUMS"], outDir);
    expect(sums).toMatchObject({ exitCode: 0 });
    expect(sums.stdout.trim().split("\n").sort()).toEqual(names.map((n) => `${n}: OK`).sort());
  });

  for (const target of TARGETS) {
    describe(target.name, () => {
      const folder = `coursepay-${pkg.version}-${target.name}`;
      const tarball = () => join(outDir, `${folder}.tar.gz`);
      const shipped = ["SHA256SUMS", "coursepay", ...DEPLOY_FILES].sort();

      test("the tarball holds one folder with the binary, the deploy files and SHA256SUMS, owned by root", () => {
        const listing = sh(["tar", "-tvzf", tarball()], outDir);
        expect(listing).toMatchObject({ exitCode: 0 });
        const entries = listing.stdout
          .trim()
          .split("\n")
          .map((line) => {
            const [mode = "", owner = "", , , , path = ""] = line.split(/\s+/);
            return { mode, owner, path };
          });
        expect(entries.map((entry) => entry.path).sort()).toEqual(
          [`${folder}/`, ...shipped.map((file) => `${folder}/${file}`)].sort(),
        );
        for (const entry of entries) expect(entry.owner).toBe("0/0");
        const mode = (file: string) => entries.find((e) => e.path === `${folder}/${file}`)?.mode;
        expect(mode("coursepay")).toBe("-rwxr-xr-x");
        for (const file of [...DEPLOY_FILES, "SHA256SUMS"]) expect(mode(file)).toBe("-rw-r--r--");
      });

      test("its SHA256SUMS verifies every file, and the deploy files are the repository's", () => {
        const dir = mkdtempSync(join(tmpdir(), "coursepay-unpacked-"));
        try {
          expect(sh(["tar", "-xzf", tarball(), "-C", dir], outDir)).toMatchObject({ exitCode: 0 });
          const unpacked = join(dir, folder);
          const check = sh(["sha256sum", "-c", "SHA256SUMS"], unpacked);
          expect(check).toMatchObject({ exitCode: 0 });
          expect(check.stdout.trim().split("\n").sort()).toEqual(
            shipped
              .filter((file) => file !== "SHA256SUMS")
              .map((file) => `${file}: OK`)
              .sort(),
          );
          for (const file of DEPLOY_FILES) {
            expect(readFileSync(join(unpacked, file), "utf8")).toBe(
              readFileSync(join(REPO_ROOT, "deploy", "systemd", file), "utf8"),
            );
          }
          const binary = join(unpacked, "coursepay");
          expect(elfMachine(binary)).toBe(target.elfMachine);
          if (target.name === "linux-x64") {
            const version = sh([binary, "--version"], dir);
            expect(version).toMatchObject({ exitCode: 0 });
            expect(version.stdout).toContain(pkg.version);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  }
});
