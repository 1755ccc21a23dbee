/**
 * PAYCORE_SIGNING_SECRET: a comma-separated list of secrets, written so that it can hold any
 * secret. Each item is trimmed; a backslash makes the next character part of the secret as it
 * is: `\,` a comma, `\\` a backslash, `\ ` (or a backslash before any other whitespace) a space
 * that is kept even at either end of the item. Nothing else may follow a backslash, so a secret
 * written before this format, with a backslash in it, is refused rather than silently changed.
 *
 * A value that yields no usable secret is an error, never "signing off": a blank value, an
 * empty item (`a,,b`, a trailing comma), a lone backslash at the end, an unknown escape. The
 * problems name item numbers only, never a character of the value.
 */

export type SigningSecretsResult =
  | { ok: true; secrets: string[] }
  | {
      ok: false;
      /** What is wrong, e.g. `an empty item: item 2 of 3`; never a character of the value. */
      problem: string;
      /** Nothing but whitespace (or nothing at all): no syntax to explain. */
      blank: boolean;
    };

/** How to write the characters the list gives a meaning to; appended to every problem. */
export const SIGNING_SECRET_SYNTAX =
  'write a comma inside a secret as "\\,", a backslash as "\\\\", a leading or trailing space as "\\ "';

const WHITESPACE = /^\s$/u;

interface Item {
  chars: string[];
  /** Per character: written with a backslash, so trimming keeps it. */
  escaped: boolean[];
}

export function parseSigningSecrets(text: string): SigningSecretsResult {
  if (text.trim() === "") return { ok: false, problem: "a blank value", blank: true };
  const items: Item[] = [{ chars: [], escaped: [] }];
  let lone = false;
  const badEscapes = new Set<number>();
  const chars = Array.from(text); // by code point: an escaped character may be outside the BMP
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i] as string;
    const item = items.at(-1) as Item;
    if (char === ",") {
      items.push({ chars: [], escaped: [] });
    } else if (char === "\\") {
      const next = chars[i + 1];
      if (next === undefined) {
        lone = true;
        break;
      }
      if (next !== "," && next !== "\\" && !WHITESPACE.test(next)) badEscapes.add(items.length);
      item.chars.push(next);
      item.escaped.push(true);
      i++;
    } else {
      item.chars.push(char);
      item.escaped.push(false);
    }
  }
  const secrets = items.map(trimmed);
  const total = items.length;
  const of = total === 1 ? "" : ` of ${total}`;
  const problems: string[] = [];
  const empty = secrets.flatMap((secret, index) => (secret === "" ? [index + 1] : []));
  if (empty.length === total && total > 1) {
    problems.push(`no secret: items ${listNumbers(empty)}${of} are empty`);
  } else if (empty.length === 1) {
    problems.push(`an empty item: item ${empty[0]}${of}`);
  } else if (empty.length > 1) {
    problems.push(`empty items: items ${listNumbers(empty)}${of}`);
  }
  if (badEscapes.size > 0) {
    const numbers = [...badEscapes];
    problems.push(
      `a backslash before a character other than a comma, a backslash or whitespace in ${
        numbers.length === 1 ? "item" : "items"
      } ${listNumbers(numbers)}${of}`,
    );
  }
  if (lone) problems.push(`a lone backslash at the end of item ${total}${of}`);
  if (problems.length > 0) return { ok: false, problem: problems.join("; "), blank: false };
  return { ok: true, secrets };
}

/** The item without the unescaped whitespace at either end. */
function trimmed(item: Item): string {
  let start = 0;
  let end = item.chars.length;
  const trims = (i: number) => !item.escaped[i] && WHITESPACE.test(item.chars[i] as string);
  while (start < end && trims(start)) start++;
  while (end > start && trims(end - 1)) end--;
  return item.chars.slice(start, end).join("");
}

/** `1`, `1 and 2`, `1, 2 and 4`. */
function listNumbers(numbers: readonly number[]): string {
  if (numbers.length <= 1) return numbers.join("");
  return `${numbers.slice(0, -1).join(", ")} and ${numbers.at(-1)}`;
}
