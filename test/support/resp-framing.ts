/**
 * A streaming RESP2 framer for test/support/fault-proxy.ts: it finds where each top-level value
 * ends in a byte stream that arrives in arbitrary chunks, without copying or re-serializing the
 * bytes, so the proxy can forward the original chunks and slice them only where a fault aims.
 * Bulk bodies are skipped by length (a 1 MB reply costs no scan); only header lines are parsed.
 */

const CR = 13;
const LF = 10;
const PLUS = 43;
const MINUS = 45;
const COLON = 58;
const DOLLAR = 36;
const STAR = 42;

/** The stream is not RESP2 (RESP3 types, garbage): the proxy stops framing that connection. */
export class RespProtocolError extends Error {}

export class RespFramer {
  /** Elements still to come in each array being read, the innermost last. */
  private readonly open: number[] = [];
  /** Bytes of the current bulk string still to come, its CRLF included; 0 while reading lines. */
  private bulkLeft = 0;
  /** A header line split across chunks, its start. */
  private partialLine: Buffer[] = [];
  /** The current bulk string's bytes (commands only: replies are not captured). */
  private bulk: Buffer[] = [];
  /** The strings of the command being read (commands only). */
  private args: string[] = [];
  private started = false;

  /**
   * Without onCommand it frames replies. With it, it frames commands (arrays of bulk strings, or
   * inline lines as redis-server accepts them) and hands each one over as its strings.
   */
  constructor(private readonly onCommand?: (args: string[]) => void) {}

  /** True between top-level values: the next byte starts a new one. */
  get idle(): boolean {
    return !this.started;
  }

  /** Consumes a chunk; returns the offsets just past each top-level value that ends in it. */
  push(chunk: Buffer): number[] {
    const ends: number[] = [];
    let i = 0;
    while (i < chunk.length) {
      this.started = true;
      if (this.bulkLeft > 0) {
        const n = Math.min(this.bulkLeft, chunk.length - i);
        if (this.onCommand) this.bulk.push(chunk.subarray(i, i + n));
        i += n;
        this.bulkLeft -= n;
        if (this.bulkLeft === 0 && this.bulkDone()) ends.push(i);
        continue;
      }
      const lf = chunk.indexOf(LF, i);
      if (lf === -1) {
        this.partialLine.push(Buffer.from(chunk.subarray(i)));
        break;
      }
      let line = chunk.subarray(i, lf);
      if (this.partialLine.length > 0) {
        line = Buffer.concat([...this.partialLine, line]);
        this.partialLine = [];
      }
      i = lf + 1;
      if (this.line(line)) ends.push(i);
    }
    return ends;
  }

  /** One header line (CRLF not included); true when it ended a top-level value. */
  private line(raw: Buffer): boolean {
    const end = raw.length > 0 && raw[raw.length - 1] === CR ? raw.length - 1 : raw.length;
    const type = raw[0];
    if (this.onCommand && this.open.length === 0 && type !== STAR) {
      const args = raw.toString("utf8", 0, end).trim().split(/\s+/);
      this.started = false;
      if (args[0] === "") return false; // redis-server ignores empty lines and does not answer
      this.onCommand(args);
      return true;
    }
    switch (type) {
      case PLUS:
      case MINUS:
      case COLON:
        if (this.onCommand) this.args.push(raw.toString("utf8", 1, end));
        return this.valueDone();
      case DOLLAR: {
        const length = lengthOf(raw, end);
        if (length >= 0) {
          this.bulkLeft = length + 2;
          return false;
        }
        if (this.onCommand) this.args.push("");
        return this.valueDone();
      }
      case STAR: {
        const count = lengthOf(raw, end);
        if (count > 0) {
          this.open.push(count);
          return false;
        }
        if (this.onCommand && this.open.length === 0) {
          this.started = false; // `*0` and `*-1` as commands: redis-server skips them silently
          return false;
        }
        return this.valueDone();
      }
      default:
        throw new RespProtocolError(
          `not a RESP2 header: ${JSON.stringify(raw.toString("latin1"))}`,
        );
    }
  }

  private bulkDone(): boolean {
    if (this.onCommand) {
      const body = this.bulk.length === 1 ? (this.bulk[0] as Buffer) : Buffer.concat(this.bulk);
      this.args.push(body.toString("utf8", 0, body.length - 2));
      this.bulk = [];
    }
    return this.valueDone();
  }

  /** A value is complete: closes the arrays it completes; true when it was a top-level one. */
  private valueDone(): boolean {
    while (this.open.length > 0) {
      const last = this.open.length - 1;
      const left = (this.open[last] as number) - 1;
      if (left > 0) {
        this.open[last] = left;
        return false;
      }
      this.open.pop();
    }
    this.started = false;
    if (this.onCommand) {
      const args = this.args;
      this.args = [];
      this.onCommand(args);
    }
    return true;
  }
}

function lengthOf(raw: Buffer, end: number): number {
  const text = raw.toString("latin1", 1, end);
  const n = Number(text);
  if (text === "" || !Number.isInteger(n)) {
    throw new RespProtocolError(`bad RESP length: ${JSON.stringify(text)}`);
  }
  return n;
}
