/**
 * deploy/systemd/ holds the env file and the units that docs/deployment.md shows and that every
 * release tarball ships (src/build/release.ts). The doc shows each one as a code block whose
 * introducing paragraph links the file: the block must be the file, byte for byte, so that
 * what an operator copies from the page is what the tarball installs.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { DEPLOY_FILES } from "../../src/build/release.ts";
import { tempDir } from "../support/fixtures.ts";

const root = resolve(import.meta.dir, "..", "..");
const docPath = join(root, "docs", "deployment.md");
const doc = readFileSync(docPath, "utf8");
const systemdDir = join(root, "deploy", "systemd");

interface FencedBlock {
  /** The paragraph just above the opening fence. */
  intro: string;
  lang: string;
  body: string;
}

/** Every fenced code block of a Markdown text, with the paragraph that introduces it. */
function fencedBlocks(markdown: string): FencedBlock[] {
  const lines = markdown.split("\n");
  const blocks: FencedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] ?? "");
    if (!open) continue;
    const intro: string[] = [];
    let j = i - 1;
    while (j >= 0 && (lines[j] ?? "").trim() === "") j--;
    for (; j >= 0 && (lines[j] ?? "").trim() !== ""; j--) intro.unshift(lines[j] ?? "");
    const body: string[] = [];
    let end = i + 1;
    for (; end < lines.length && lines[end] !== "```"; end++) body.push(lines[end] ?? "");
    if (end === lines.length) throw new Error(`unclosed code block at line ${i + 1}`);
    blocks.push({ intro: intro.join("\n"), lang: open[1] ?? "", body: `${body.join("\n")}\n` });
    i = end;
  }
  return blocks;
}

describe("deploy/systemd/ and docs/deployment.md", () => {
  const blocks = fencedBlocks(doc);

  test("the folder holds exactly the files a release ships", () => {
    expect(readdirSync(systemdDir).sort()).toEqual([...DEPLOY_FILES].sort());
  });

  for (const file of DEPLOY_FILES) {
    test(`the doc's ${file} block is deploy/systemd/${file}, byte for byte`, () => {
      const link = `](../deploy/systemd/${file})`;
      const shown = blocks.filter((block) => block.intro.includes(link));
      expect(shown.map((block) => block.intro)).toHaveLength(1);
      expect(shown[0]?.lang).toBe("ini");
      expect(shown[0]?.body).toBe(readFileSync(join(systemdDir, file), "utf8"));
    });
  }

  test("every deploy/ link in the doc points at a file or folder that exists", () => {
    const links = [...doc.matchAll(/\]\((\.\.\/deploy\/[^)#\s]*)/g)].map((match) => match[1] ?? "");
    expect(links.length).toBeGreaterThanOrEqual(DEPLOY_FILES.length);
    for (const link of links) {
      expect({ link, exists: existsSync(resolve(dirname(docPath), link)) }).toEqual({
        link,
        exists: true,
      });
    }
  });

  test("the units run the installed binary with the installed env file", () => {
    const envFile = "/etc/coursepay/coursepay.env";
    for (const unit of ["coursepay.service", "coursepay@.service"]) {
      const text = readFileSync(join(systemdDir, unit), "utf8");
      expect(text).toContain(`EnvironmentFile=${envFile}\n`);
      expect(text).toContain("ExecStart=/usr/local/bin/coursepay serve\n");
    }
    expect(doc).toContain(`coursepay.env ${envFile}`);
  });

  // The score systemd itself gives the units, read from the files (no systemd needed).
  for (const unit of ["coursepay.service", "coursepay@.service"]) {
    test(`systemd-analyze security scores ${unit} below 3, MemoryDenyWriteExecute off`, () => {
      const analyze = Bun.which("systemd-analyze");
      if (analyze === null) throw new Error("systemd-analyze not found: run .ci/setup");
      // A template is analysed as one of its instances.
      const file = join(tempDir("units"), unit.replace("@.", "@1."));
      writeFileSync(file, readFileSync(join(systemdDir, unit)));
      const run = Bun.spawnSync([analyze, "security", "--offline=yes", "--no-pager", file], {
        stdout: "pipe",
        stderr: "pipe",
      });
      const output = run.stdout.toString();
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(output)?.[1]);
      expect({ unit, score, below3: score < 3 }).toEqual({ unit, score, below3: true });
      // The JIT needs writable executable memory: the unit must not forbid it.
      expect(readFileSync(join(systemdDir, unit), "utf8")).not.toMatch(/^MemoryDenyWriteExecute=/m);
      // The doc states the score the tool gives.
      expect(doc).toContain(`scores it **${score.toFixed(1)} OK**`);
    });
  }
});
