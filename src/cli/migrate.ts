import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../config/config.ts";
import { configWarnings } from "../config/config-warnings.ts";
import { createDatabaseFolder } from "../db/database.ts";
import { createLogger } from "../observe/logger.ts";
import { openStore } from "../worker.ts";

export const MIGRATE_HELP = `Usage: coursepay migrate

Applies the migrations embedded in this binary to DATABASE_URL. Running it again is a no-op.
A local database file's folder is created when it is missing (serve refuses to start then).`;

export async function migrateCommand(args: string[]): Promise<number> {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
  const config = { ...loadConfig(), migrateOnStart: true };
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  for (const warning of configWarnings()) logger.warn(warning);
  if (config.databaseFilePath !== undefined) {
    // The one command that creates the folder: serve refuses a missing one (a mistyped path).
    if (createDatabaseFolder(config.databaseFilePath) !== undefined) {
      logger.info({ folder: dirname(config.databaseFilePath) }, "Created the database folder");
    }
  }
  const database = await openStore(config, logger);
  database.close();
  logger.info("Database is up to date");
  return 0;
}
