/**
 * systemd's journal reads a service's stdout line by line and, when a line starts with an
 * sd-daemon prefix (`<3>`, `<4>`, …), takes that as the line's priority (sd-daemon(3)); without
 * one every line is "info", so `journalctl -p err` would show nothing. systemd sets
 * JOURNAL_STREAM to `<device>:<inode>` of the stream it connected stdout/stderr to; it is the
 * journal only while stdout is still that very stream (not redirected by a wrapper).
 */
import { fstatSync } from "node:fs";

/** True when stdout (fd 1) is the journal stream JOURNAL_STREAM names. */
export function stdoutIsJournal(journalStream: string | undefined, fd = 1): boolean {
  const match = /^(\d+):(\d+)$/.exec(journalStream ?? "");
  if (match === null) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(match[1] ?? "") && stat.ino === BigInt(match[2] ?? "");
  } catch {
    return false;
  }
}

/** pino's JSON lines begin `{"level":"<label>"` (the logger's level formatter comes first). */
const LABEL_AT = '{"level":"'.length;

/**
 * The sd-daemon prefix for one of the logger's JSON lines: fatal and error `<3>`, warn `<4>`,
 * info `<6>`, debug and trace `<7>`; `<6>` for a line of another shape.
 */
export function journalPrefix(line: string): string {
  switch (line.charCodeAt(LABEL_AT)) {
    case 102: // f(atal)
    case 101: // e(rror)
      return "<3>";
    case 119: // w(arn)
      return "<4>";
    case 100: // d(ebug)
    case 116: // t(race)
      return "<7>";
    default:
      return "<6>";
  }
}
