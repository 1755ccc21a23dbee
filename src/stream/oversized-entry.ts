/**
 * An entry over MAX_EVENT_BYTES is never parsed and never copied whole into a dead letter: it
 * is kept as a prefix, its size and its SHA-256, so its dead letter stays small whatever arrived
 * (a Redis with `proto-max-bulk-len 1mb` accepts it) and an operator can still recognise it.
 */

/** Bytes of an oversized entry's fields and values kept, about: enough to recognise it. */
export const OVERSIZED_PREFIX_BYTES = 1024;

export interface Oversized {
  /** Its size: field names and values, UTF-8 bytes. */
  readonly bytes: number;
  /** Its first fields and values, cut after about OVERSIZED_PREFIX_BYTES (the last one cut short). */
  readonly prefix: readonly string[];
  /**
   * Hex SHA-256 of its field names and values as UTF-8, each followed by a NUL byte. Undefined
   * when only the prefix was read; the consumer reads the entry alone to fill it in.
   */
  readonly sha256?: string;
}

/**
 * From an entry read whole (`whole`: hash it, keep a prefix) or from the prefix a read script
 * already cut inside Redis (`whole` false: `fields` is that prefix).
 */
export function oversizedEntry(
  fields: readonly string[],
  bytes: number,
  whole: boolean,
): Oversized {
  if (!whole) return { bytes, prefix: fields };
  return { bytes, prefix: prefixOf(fields), sha256: sha256OfFields(fields) };
}

/** The SHA-256 the dead letter records: each name and value, then a NUL byte. */
export function sha256OfFields(fields: readonly (string | Uint8Array)[]): string {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const field of fields) hasher.update(field).update("\0");
  return hasher.digest("hex");
}

/** The first fields and values, cut after about OVERSIZED_PREFIX_BYTES. */
export function prefixOf(fields: readonly string[]): string[] {
  const prefix: string[] = [];
  let left = OVERSIZED_PREFIX_BYTES;
  for (const field of fields) {
    if (left <= 0) break;
    // Cut by characters (each at least one byte): at most a few KiB, never the whole value.
    const part = field.slice(0, left);
    prefix.push(part);
    left -= Buffer.byteLength(part);
  }
  return prefix;
}
