/**
 * The spellings of a boolean, one list for settings (ENABLE_EVENT_CONSUMER=yes) and for event
 * fields that travel as strings (the flat form's `simulated true`), matched case-insensitively.
 */
export const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  false: false,
  "1": true,
  "0": false,
  yes: true,
  no: false,
};

/** True for `true`, `1` and every true spelling above, as a string or not. */
export function isTruthy(value: unknown): boolean {
  if (value === true || value === 1) return true;
  if (typeof value !== "string") return false;
  const word = value.trim().toLowerCase();
  return Object.hasOwn(BOOLEAN_WORDS, word) && BOOLEAN_WORDS[word] === true;
}
