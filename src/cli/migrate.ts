import { parseArgs } from "node:util";
import { loadConfig } from "../config/config.ts";
import { createLogger } from "../observe/logger.ts";
import { openStore } from "../worker.ts";

export const MIGRATE_HELP = `Usage: coursepay migrate

Applies the migrations embedded in this binary to DATABASE_URL. Running it again is a no-op.`;

export async function migrateCommand(args: string[]): Promise<number> {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
  const config = { ...loadConfig(), migrateOnStart: true };
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const database = await openStore(config, logger);
  database.close();
  logger.info("Database is up to date");
  return 0;
}
