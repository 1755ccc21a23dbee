import type { Client } from "@libsql/client";
// A Bun macro: runs at build time, so the SQL is part of the program.
import { readMigrations } from "./read-migrations.ts" with { type: "macro" };
import type { MigrationFile } from "./read-migrations.ts";

/** drizzle's own bookkeeping table, so `drizzle-kit migrate` and this agree on what ran. */
const MIGRATIONS_TABLE = "__drizzle_migrations";

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
}

/**
 * Applies the migrations embedded at build time. The check and the statements run in one
 * write transaction, so two workers starting at once cannot both apply the same migration;
 * running it again is a no-op.
 */
export async function migrate(client: Client): Promise<MigrationReport> {
  const migrations: MigrationFile[] = readMigrations();
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (id INTEGER PRIMARY KEY, hash text NOT NULL, created_at numeric)`,
  );
  const tx = await client.transaction("write");
  try {
    const last = await tx.execute(
      `SELECT created_at FROM ${MIGRATIONS_TABLE} ORDER BY created_at DESC LIMIT 1`,
    );
    const lastCreatedAt = Number(last.rows[0]?.created_at ?? -1);
    const pending = migrations.filter((migration) => migration.createdAt > lastCreatedAt);
    for (const migration of pending) {
      for (const statement of migration.statements) await tx.execute(statement);
      await tx.execute({
        sql: `INSERT INTO ${MIGRATIONS_TABLE} (hash, created_at) VALUES (?, ?)`,
        args: [migration.hash, migration.createdAt],
      });
    }
    await tx.commit();
    return {
      applied: pending.map((migration) => migration.tag),
      alreadyApplied: migrations.length - pending.length,
    };
  } finally {
    tx.close();
  }
}
