/**
 * One valibot schema per kind of setting (integers in a range, booleans, names, URLs, secrets),
 * each turning the variable's text into its value; every message says what the variable accepts.
 */
import path from "node:path";
import * as v from "valibot";
import { BOOLEAN_WORDS } from "../contract/boolean-words.ts";
import { redactUrl } from "./redact.ts";
import { parseAddressList } from "./redis-topology.ts";
import { parseSigningSecrets, SIGNING_SECRET_SYNTAX } from "./signing-secrets.ts";

type Expectation = string;

export function integer(min: number, max: number): v.GenericSchema<string, number> {
  const expects: Expectation = `an integer from ${min} to ${max}`;
  return v.pipe(
    v.string(expects),
    v.regex(/^[+-]?\d{1,16}$/, expects),
    v.transform(Number),
    v.minValue(min, expects),
    v.maxValue(max, expects),
  );
}

export function boolean(): v.GenericSchema<string, boolean> {
  const expects = "one of true|false|1|0|yes|no";
  return v.pipe(
    v.string(expects),
    v.transform((s) => s.toLowerCase()),
    v.check((s) => Object.hasOwn(BOOLEAN_WORDS, s), expects),
    v.transform((s) => BOOLEAN_WORDS[s] === true),
  );
}

export function oneOf<const T extends readonly string[]>(
  options: T,
): v.GenericSchema<string, T[number]> {
  const expects = `one of ${options.join("|")}`;
  return v.pipe(
    v.string(expects),
    v.transform((s) => s.toLowerCase()),
    v.picklist(options, expects),
  );
}

/** Stream, group and consumer names, host names: non-empty, no whitespace or control chars. */
export function name(): v.GenericSchema<string, string> {
  const expects = "a non-empty name without whitespace";
  return v.pipe(v.string(expects), v.regex(/^[^\s\p{Cc}]+$/u, expects));
}

export function isRedisUrl(text: string): boolean {
  const url = URL.parse(text);
  return url !== null && (url.protocol === "redis:" || url.protocol === "rediss:");
}

/** Largest database number Redis accepts (`databases` is an int). */
export const MAX_REDIS_DB = 2_147_483_647;

/** The path of a Redis URL is its database: empty or `/` (database 0), or `/N`. */
export function hasRedisDatabase(text: string): boolean {
  const url = URL.parse(text);
  if (url === null) return true; // refused by isRedisUrl already
  if (url.pathname === "" || url.pathname === "/") return true;
  const db = /^\/(\d{1,10})$/.exec(url.pathname)?.[1];
  return db !== undefined && Number(db) <= MAX_REDIS_DB;
}

export function redisUrl(): v.GenericSchema<string, string> {
  const expects = "a redis:// or rediss:// URL";
  return v.pipe(
    v.string(expects),
    v.check(isRedisUrl, expects),
    v.check(
      hasRedisDatabase,
      "a redis:// or rediss:// URL whose path is empty or a database number (/0, /1, …)",
    ),
  );
}

/**
 * `host:port,host:port,…` (a missing port is `defaultPort`): kept as the text it is, so it is
 * shown as set; loadConfig turns the lists into the Redis topology (redis-topology.ts).
 */
export function addressList(defaultPort: number): v.GenericSchema<string, string> {
  const expects = `a comma-separated list of host:port (port ${defaultPort} when left out)`;
  return v.pipe(
    v.string(expects),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const parsed = parseAddressList(dataset.value, defaultPort);
      if (!parsed.ok)
        addIssue({ message: `${WHOLE_MESSAGE}expected ${expects}, got ${parsed.problem}` });
    }),
  );
}

export const MAX_UINT64 = 18_446_744_073_709_551_615n;

/** `0`, `$`, `<ms>` or `<ms>-<seq>`: digits only (no sign, no spaces), each part below 2^64. */
export function isGroupStartId(text: string): boolean {
  if (text === "$") return true;
  const match = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (match === null) return false;
  return match.slice(1).every((part) => part === undefined || BigInt(part) <= MAX_UINT64);
}

export function groupStartId(): v.GenericSchema<string, string> {
  const expects = `one of 0|$|<ms>|<ms>-<seq>, each part a decimal integer up to ${MAX_UINT64}`;
  return v.pipe(v.string(expects), v.check(isGroupStartId, expects));
}

export interface Database {
  url: string;
  filePath: string | undefined;
}

/**
 * The remote databases coursepay reaches, all over HTTP (libsql: is HTTPS). Not ws: or wss:: the
 * libSQL client's WebSocket transport has no per-request timeout, so a silent server would hold
 * a batch for ever; DATABASE_URL refuses them and names the http(s): URL to use instead.
 */
export const REMOTE_DATABASE_PROTOCOLS = new Set(["libsql:", "http:", "https:"]);

/** `file:` split the way libSQL reads it: optional `//authority`, path, optional `?query`. */
export const FILE_URL = /^file:(?:\/\/(?<authority>[^/?#]*))?(?<path>[^?#]*)(?<query>\?[^#]*)?$/s;

export function toDatabase(text: string): Database | undefined {
  if (text === ":memory:") return { url: text, filePath: undefined };
  if (text.startsWith("file:")) {
    const groups = FILE_URL.exec(text)?.groups;
    if (groups === undefined) return undefined;
    const { authority, query = "" } = groups;
    if (authority !== undefined && authority !== "" && authority !== "localhost") return undefined;
    let filePath: string;
    try {
      filePath = decodeURIComponent(groups.path ?? "");
    } catch {
      return undefined;
    }
    if (filePath === "") return undefined;
    if (filePath === ":memory:") return { url: text, filePath: undefined };
    const absolute = path.resolve(process.cwd(), filePath);
    // libSQL percent-decodes the path, so characters with a meaning in URLs are encoded back.
    const encoded = absolute.replace(/[%?#]/g, (c) => encodeURIComponent(c));
    return { url: `file:${encoded}${query}`, filePath: absolute };
  }
  const url = URL.parse(text);
  if (url === null || !REMOTE_DATABASE_PROTOCOLS.has(url.protocol) || url.host === "") {
    return undefined;
  }
  return { url: text, filePath: undefined };
}

/**
 * A DATABASE_URL that is a bare path (no scheme, no `@`, `?` or `:`) is shown as it is, with
 * the `file:` URL it probably meant: `/var/lib/x.db` → `file:/var/lib/x.db`.
 */
export function isBarePath(text: string): boolean {
  return text !== "" && !/[:@?]/.test(text);
}

/** `file:<path>`, with the characters a file: URL gives a meaning to encoded. */
export function suggestedFileUrl(text: string): string | undefined {
  if (!isBarePath(text) || text.startsWith("~")) return undefined;
  return `file:${text.replace(/[%#]/g, (c) => encodeURIComponent(c))}`;
}

/**
 * What DATABASE_URL probably meant, and why, for a value it refused: a bare path's `file:` URL,
 * or a WebSocket URL's HTTP twin (the same server answers both).
 */
export function suggestedDatabaseUrl(text: string): string | undefined {
  const webSocket = /^(wss?):\/\//i.exec(text);
  if (webSocket !== null) {
    const scheme = webSocket[1]?.toLowerCase() === "wss" ? "https" : "http";
    // Redacted: the URL may carry a password or an authToken.
    const url = redactUrl(text).replace(/^wss?/i, scheme);
    return `${url} (ws: and wss: are not supported: their requests have no timeout)`;
  }
  return suggestedFileUrl(text);
}

export function databaseUrl(): v.GenericSchema<string, Database> {
  const expects = "a file:, :memory:, libsql:, http: or https: URL";
  return v.pipe(
    v.string(expects),
    v.check((s) => toDatabase(s) !== undefined, expects),
    v.transform((s) => toDatabase(s) as Database),
  );
}

export function anyString(): v.GenericSchema<string, string> {
  return v.string("a string");
}

/**
 * Marks an issue message that is the whole text after `VARIABLE: `, not only what the variable
 * accepts (which gets `, got <value>` appended).
 */
export const WHOLE_MESSAGE = "\u0000";

export const SIGNING_SECRETS_EXPECTED = "a comma-separated list of secrets";

export function signingSecrets(): v.GenericSchema<string, string[]> {
  return v.pipe(
    v.string(SIGNING_SECRETS_EXPECTED),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const parsed = parseSigningSecrets(dataset.value);
      if (parsed.ok) return parsed.secrets;
      const advice = parsed.blank
        ? "unset PAYCORE_SIGNING_SECRET to turn signature checks off"
        : SIGNING_SECRET_SYNTAX;
      addIssue({
        message: `${WHOLE_MESSAGE}expected ${SIGNING_SECRETS_EXPECTED}, got ${parsed.problem} (${advice})`,
      });
      return NEVER;
    }),
  );
}
