/**
 * A savepoint inside the batch's transaction, like drizzle's nested `tx.transaction`, except for
 * which error is thrown when the connection is lost. drizzle answers any failure in the body or
 * in its RELEASE with ROLLBACK TO; on a remote database whose connection broke (the server
 * killed, a timeout, an expired baton) that fails too, with TRANSACTION_CLOSED, and drizzle
 * throws it in place of the cause, so the log would say "transaction closed" for an outage.
 */
import { sql } from "drizzle-orm";
import type { Tx } from "./database.ts";
import { isTransientDatabaseError } from "./database-errors.ts";

/** Runs `body` in a savepoint: kept when it returns, undone when it throws. */
export async function inSavepoint<T>(tx: Tx, name: string, body: () => Promise<T>): Promise<T> {
  await tx.run(sql.raw(`SAVEPOINT ${name}`));
  try {
    const result = await body();
    await tx.run(sql.raw(`RELEASE SAVEPOINT ${name}`));
    return result;
  } catch (error) {
    try {
      await tx.run(sql.raw(`ROLLBACK TO SAVEPOINT ${name}`));
    } catch (rollbackError) {
      // Not undone: the whole transaction must fail. A lost connection is the cause worth
      // naming (the batch is retried as it stands); anything else, the rollback's own error.
      throw isTransientDatabaseError(error) ? error : rollbackError;
    }
    throw error;
  }
}
