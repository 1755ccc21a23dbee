/**
 * Loggable forms of URLs and of the configuration: credentials replaced by `***`, never shown.
 */
import type { Config } from "./config.ts";

const MASK = "***";

/** Query parameters that carry credentials, e.g. libSQL's `authToken`. */
const SECRET_PARAM = /token|secret|passw|pwd|key|auth|credential|signature/i;

/**
 * Replaces credentials in a URL with `***`: the password (`redis://:s3cret@h` →
 * `redis://:***@h`), a user name standing alone (ioredis reads `redis://s3cret@h` as a
 * password), and secret-looking query values (`?authToken=abc` → `?authToken=***`).
 * Returns the input unchanged when there is nothing to hide, `<unparseable url>` when it is
 * not a URL (`:memory:` is kept as is). Never throws.
 */
export function redactUrl(url: string): string {
  try {
    if (url === ":memory:") return url;
    const parsed = URL.parse(url);
    if (parsed === null) return "<unparseable url>";
    let changed = false;
    if (parsed.password !== "") {
      parsed.password = MASK;
      changed = true;
    } else if (parsed.username !== "") {
      parsed.username = MASK;
      changed = true;
    }
    if (parsed.search.length > 1) {
      // Rebuilt by hand so parameters that are not secret keep their exact spelling.
      const params = parsed.search
        .slice(1)
        .split("&")
        .map((pair) => {
          const at = pair.indexOf("=");
          const name = at === -1 ? pair : pair.slice(0, at);
          if (at === -1 || !SECRET_PARAM.test(safeDecode(name))) return pair;
          changed = true;
          return `${name}=${MASK}`;
        });
      parsed.search = `?${params.join("&")}`;
    }
    return changed ? parsed.href : url;
  } catch {
    return "<unparseable url>";
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    return text;
  }
}

/** A summary of the configuration for the start-up log: URLs redacted, secrets never shown. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    redisUrl: redactUrl(config.redisUrl),
    databaseUrl: redactUrl(config.databaseUrl),
    databaseAuthToken: config.databaseAuthToken === undefined ? "(unset)" : "(set)",
    signingSecrets: config.signingSecrets.map(() => MASK),
  };
}
