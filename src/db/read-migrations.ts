import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface MigrationFile {
  tag: string;
  /** drizzle-kit's `when`: the order in which migrations apply and what the journal stores. */
  createdAt: number;
  /** SHA-256 of the file, as drizzle's own migrator records it. */
  hash: string;
  statements: string[];
}

/**
 * Reads migrations/ the way drizzle's migrator does. Imported as a Bun macro
 * (`with { type: "macro" }`), so it runs at build time and the SQL is inlined into the
 * bundle: the compiled binary migrates a new database with no files beside it.
 */
export function readMigrations(): MigrationFile[] {
  const folder = join(import.meta.dir, "..", "..", "migrations");
  const journal = JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string; when: number }[];
  };
  return journal.entries.map((entry) => {
    const sql = readFileSync(join(folder, `${entry.tag}.sql`), "utf8");
    return {
      tag: entry.tag,
      createdAt: entry.when,
      hash: createHash("sha256").update(sql).digest("hex"),
      statements: sql
        .split("--> statement-breakpoint")
        .map((statement) => statement.trim())
        .filter((statement) => statement.length > 0),
    };
  });
}
