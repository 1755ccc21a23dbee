import { describe, expect, test } from "bun:test";
import { isRemoteDatabaseUrl } from "../../src/db/database.ts";

describe("isRemoteDatabaseUrl: which databases get no local pragmas and a request timeout", () => {
  test.each([
    ["libsql://db-org.turso.io", true],
    ["https://db-org.turso.io", true],
    ["http://127.0.0.1:8080", true],
    ["HTTP://127.0.0.1:8080", true],
    ["wss://db-org.turso.io", false],
    ["ws://127.0.0.1:8080", false],
    ["file:/var/lib/coursepay/coursepay.db", false],
    ["file:data/coursepay.db", false],
    [":memory:", false],
  ])("%s → %p", (url, remote) => {
    expect(isRemoteDatabaseUrl(url)).toBe(remote);
  });
});
