/**
 * Just enough SQL lexing for the Hrana test server: bun:sqlite prepares only the first statement
 * of a string and does not name a statement's parameters, and sqld decides a few things
 * (affected rows, last rowid, one statement per `execute`) from the SQL text.
 */

interface Token {
  /** `word` is a bare word (upper-cased in `text`), `name` a quoted identifier, `var` a parameter. */
  kind: "word" | "name" | "var" | "semi" | "other";
  text: string;
  /** Parenthesis depth the token is at. */
  depth: number;
  start: number;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let depth = 0;
  const skipWord = (from: number) => {
    let j = from;
    while (j < sql.length && WORD_CHAR.test(sql.charAt(j))) j++;
    return j;
  };
  // Quotes are escaped by doubling them; an unterminated quote runs to the end.
  const skipQuoted = (close: string, from: number) => {
    for (let j = from; j < sql.length; j++) {
      if (sql.charAt(j) !== close) continue;
      if (close !== "]" && sql.charAt(j + 1) === close) j++;
      else return j + 1;
    }
    return sql.length;
  };
  while (i < sql.length) {
    const c = sql.charAt(i);
    const start = i;
    let kind: Token["kind"] = "other";
    if (/\s/.test(c)) {
      i++;
      continue;
    } else if (sql.startsWith("--", i)) {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end + 1;
      continue;
    } else if (sql.startsWith("/*", i)) {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 2;
      continue;
    } else if (c === "'") {
      i = skipQuoted("'", i + 1);
    } else if (c === '"' || c === "`" || c === "[") {
      kind = "name";
      i = skipQuoted(c === "[" ? "]" : c, i + 1);
    } else if (c === "?") {
      kind = "var";
      i++;
      while (/[0-9]/.test(sql.charAt(i))) i++;
    } else if ((c === ":" || c === "@" || c === "$") && WORD_CHAR.test(sql.charAt(i + 1))) {
      kind = "var";
      i = skipWord(i + 1);
    } else if (WORD_START.test(c)) {
      kind = "word";
      i = skipWord(i + 1);
    } else {
      if (c === ";") kind = "semi";
      i++;
    }
    if (c === ")") depth = Math.max(0, depth - 1);
    const text = sql.slice(start, i);
    tokens.push({ kind, text: kind === "word" ? text.toUpperCase() : text, depth, start });
    if (c === "(") depth++;
  }
  return tokens;
}

function isWord(token: Token | undefined, ...words: string[]): boolean {
  return token?.kind === "word" && words.includes(token.text);
}

/**
 * The statements of a string, without their semicolons; empty statements are dropped. Like
 * sqlite3_complete(), a `;` inside CREATE TRIGGER ends the statement only right after the END
 * of its body (which, unlike sqlite3_complete(), is told apart from the END of a CASE).
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current: Token[] = [];
  let openCases = 0;
  let bodyEnded = false;
  for (const token of tokenize(sql)) {
    if (token.kind !== "semi") {
      current.push(token);
      if (isWord(token, "CASE")) openCases++;
      if (isWord(token, "END")) {
        bodyEnded = openCases === 0;
        openCases = Math.max(0, openCases - 1);
      }
      continue;
    }
    const [first, second, third] = current;
    const inTrigger =
      isWord(first, "CREATE") &&
      (isWord(second, "TRIGGER") ||
        (isWord(second, "TEMP", "TEMPORARY") && isWord(third, "TRIGGER")));
    if (inTrigger && !(bodyEnded && isWord(current.at(-1), "END"))) {
      current.push(token);
    } else if (first !== undefined) {
      statements.push(sql.slice(first.start, token.start).trim());
      current = [];
      openCases = 0;
      bodyEnded = false;
    }
  }
  const first = current[0];
  if (first !== undefined) statements.push(sql.slice(first.start).trim());
  return statements;
}

export interface StatementInfo {
  /** INSERT, UPDATE, DELETE or REPLACE, also after a WITH clause: sqld counts affected rows. */
  isWrite: boolean;
  /** sqld reports a last insert rowid for INSERT (and REPLACE) only. */
  isInsert: boolean;
  isExplain: boolean;
  /** libSQL's `BEGIN [TRANSACTION] READONLY`, which SQLite reads as a transaction named READONLY. */
  isReadonlyBegin: boolean;
  /** Parameter names by index (0-based), null for a bare `?`, numbered like SQLite does. */
  params: (string | null)[];
}

/** What the server needs to know about one statement. */
export function statementInfo(sql: string): StatementInfo {
  const tokens = tokenize(sql);
  const words = tokens.filter((token) => token.kind === "word");
  let verb = words[0]?.text;
  if (verb === "WITH") {
    const main = ["SELECT", "VALUES", "INSERT", "REPLACE", "UPDATE", "DELETE"];
    verb = words.find((word) => word.depth === 0 && main.includes(word.text))?.text;
  }
  const texts = tokens
    .filter((token) => token.kind !== "semi")
    .map((token) => token.text)
    .join(" ");
  const params: (string | null)[] = [];
  for (const token of tokens) {
    if (token.kind !== "var") continue;
    if (token.text === "?") {
      params.push(null);
    } else if (token.text.startsWith("?")) {
      const index = Number(token.text.slice(1));
      if (!(index >= 1 && index <= 32766)) continue; // SQLite rejects these when preparing
      while (params.length < index) params.push(null);
      params[index - 1] = token.text;
    } else if (!params.includes(token.text)) {
      params.push(token.text);
    }
  }
  return {
    isWrite: verb === "INSERT" || verb === "REPLACE" || verb === "UPDATE" || verb === "DELETE",
    isInsert: verb === "INSERT" || verb === "REPLACE",
    isExplain: verb === "EXPLAIN",
    isReadonlyBegin: texts === "BEGIN READONLY" || texts === "BEGIN TRANSACTION READONLY",
    params,
  };
}
