/** What happened to one event at one subscriber; the same names in logs, tables and metrics. */
export const OUTCOMES = [
  "applied",
  "duplicate",
  "conflict",
  "invalid",
  "unauthenticated",
  "ignored",
  "failed",
] as const;

export type Outcome = (typeof OUTCOMES)[number];
