/**
 * Environment variables that look meant for coursepay but that it does not read: a typo
 * (`BATCHSIZE`, `batch_size`, `LOG_LEVLE`) or a name under a prefix only coursepay uses
 * (`REDIS_HOST`). Warnings, never errors: the environment is shared with other software.
 * A warning names the variable and the known names, never a value.
 */
import { CONFIG_VARIABLES } from "./config.ts";

/** Read by coursepay outside loadConfig: the version `bun src/main.ts` reports. */
const OTHER_VARIABLES = ["COURSEPAY_VERSION"];

const KNOWN: readonly string[] = [...CONFIG_VARIABLES, ...OTHER_VARIABLES];

/**
 * Prefixes of coursepay's own variables that other software is unlikely to set. Generic ones
 * (`HTTP_`, `APP_`, `LOG_`, `MAX_`, …) are left out; those only warn when one edit away.
 */
export const OWNED_PREFIXES: readonly string[] = [
  "COURSEPAY_",
  "REDIS_",
  "DATABASE_",
  "EVENT_",
  "CONSUMER_",
  "PAYCORE_",
  "SIMULATOR_",
  "CLAIM_",
  "RETRY_",
];

/**
 * One line per unknown variable that is a case variant of a known name or one edit (insertion,
 * deletion, substitution or swap of neighbours) away from one, or that starts with an owned
 * prefix; sorted by variable name.
 */
export function configWarnings(env: Record<string, string | undefined> = process.env): string[] {
  const known = new Set(KNOWN);
  const warnings: string[] = [];
  for (const variable of Object.keys(env).sort()) {
    if (known.has(variable) || env[variable] === undefined) continue;
    const upper = variable.toUpperCase();
    const near = KNOWN.map((name) => ({ name, distance: editDistance(upper, name, 1) }))
      .filter((candidate) => candidate.distance <= 1)
      .sort((a, b) => a.distance - b.distance);
    const closest = near[0]?.name;
    if (closest !== undefined) {
      warnings.push(
        `${variable} is not a variable coursepay reads and is ignored; did you mean ${closest}?`,
      );
      continue;
    }
    const prefix = OWNED_PREFIXES.find((owned) => upper.startsWith(owned));
    if (prefix === undefined) continue;
    const siblings = KNOWN.filter((name) => name.startsWith(prefix)).sort(
      (a, b) => editDistance(upper, a) - editDistance(upper, b),
    );
    warnings.push(
      `${variable} is not a variable coursepay reads and is ignored; did you mean ${
        siblings[0]
      }? (coursepay's ${prefix} variables: ${siblings.join(", ")})`,
    );
  }
  return warnings;
}

/**
 * Optimal string alignment distance (Levenshtein plus swaps of neighbours). With `limit`, any
 * result above it is returned as `limit + 1`.
 */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (beforePrevious[j - 2] as number) + 1);
      }
      current.push(best);
      rowMin = Math.min(rowMin, best);
    }
    if (rowMin > limit) return limit + 1;
    beforePrevious = previous;
    previous = current;
  }
  const distance = previous[b.length] as number;
  return distance > limit ? limit + 1 : distance;
}
