import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import {
  checkDatabaseFolder,
  createDatabaseFolder,
  DatabaseFolderMissingError,
  openDatabase,
} from "../../src/db/database.ts";

const root = mkdtempSync(join(os.tmpdir(), "coursepay-folder-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the folder of a database file", () => {
  test("openDatabase refuses a missing folder and creates nothing", async () => {
    const filePath = join(root, "missing", "deeper", "coursepay.db");
    const opening = openDatabase({ url: `file:${filePath}`, filePath });
    await expect(opening).rejects.toBeInstanceOf(DatabaseFolderMissingError);
    await expect(opening).rejects.toThrow(
      `DATABASE_URL: the folder ${join(root, "missing", "deeper")} of ${filePath} does not exist (create it, or run coursepay migrate, which creates it)`,
    );
    expect(existsSync(join(root, "missing"))).toBe(false);
  });

  test("createFolder: true creates it, with its parents", async () => {
    const filePath = join(root, "created", "deeper", "coursepay.db");
    const database = await openDatabase({ url: `file:${filePath}`, filePath, createFolder: true });
    database.close();
    expect(existsSync(filePath)).toBe(true);
  });

  test("an existing folder opens as before", async () => {
    const filePath = join(root, "coursepay.db");
    const database = await openDatabase({ url: `file:${filePath}`, filePath });
    database.close();
    expect(existsSync(filePath)).toBe(true);
  });

  test("a file where the folder should be is named as such", () => {
    const notAFolder = join(root, "plain-file");
    writeFileSync(notAFolder, "");
    const filePath = join(notAFolder, "coursepay.db");
    expect(() => checkDatabaseFolder(filePath)).toThrow(
      `DATABASE_URL: ${notAFolder}, the folder of ${filePath}, is not a folder`,
    );
    // Below a file (ENOTDIR): missing.
    expect(() => checkDatabaseFolder(join(notAFolder, "x", "coursepay.db"))).toThrow(
      DatabaseFolderMissingError,
    );
  });

  test("createDatabaseFolder returns the first folder it created, nothing when it existed", () => {
    const filePath = join(root, "made", "here", "x.db");
    expect(createDatabaseFolder(filePath)).toBe(join(root, "made"));
    expect(createDatabaseFolder(filePath)).toBeUndefined();
    expect(() => checkDatabaseFolder(filePath)).not.toThrow();
  });

  test("remote and in-memory databases have no folder to check", async () => {
    const database = await openDatabase({ url: ":memory:" });
    database.close();
  });
});
