import { dirname } from "node:path";
import { loadConfig } from "../config/config.ts";
import { configWarnings } from "../config/config-warnings.ts";
import { createDatabaseFolder } from "../db/database.ts";
import { createLogger } from "../observe/logger.ts";
import { openStore } from "../worker.ts";

export async function migrateCommand(): Promise<number> {
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
