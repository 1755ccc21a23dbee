/**
 * `bun run docs:settings`: rewrites the README's configuration table from the settings table
 * (src/config/settings.ts). `--check` changes nothing and exits 1 when the README is stale.
 */
import { join } from "node:path";
import { spliceSettingsTable } from "../config/settings-doc.ts";

const readmePath = join(import.meta.dir, "..", "..", "README.md");
const readme = await Bun.file(readmePath).text();
const updated = spliceSettingsTable(readme);
if (process.argv.includes("--check")) {
  if (updated !== readme) {
    console.error("README.md: the configuration table is stale; run bun run docs:settings");
    process.exit(1);
  }
  console.log("README.md: the configuration table is up to date");
} else if (updated === readme) {
  console.log("README.md: the configuration table is up to date");
} else {
  await Bun.write(readmePath, updated);
  console.log("README.md: rewrote the configuration table");
}
