/**
 * Signed entries (PAYCORE_SIGNING_SECRET): the field `signature` is the hex HMAC-SHA256, keyed
 * with the UTF-8 bytes of one secret, of the exact bytes of the field `data` as they arrive,
 * read as UTF-8: nothing is parsed, trimmed or re-serialised first, and no other field is
 * signed. When the bytes are known (an entry whose `data` may not be UTF-8 is read again as
 * bytes), the HMAC is computed over them.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** How PayCore signs an entry: hex (lowercase) HMAC-SHA256 of the `data` string's UTF-8 bytes. */
export function signData(data: string, secret: string): string {
  return createHmac("sha256", secret).update(data, "utf8").digest("hex");
}

/**
 * True when `signature` (64 hex digits, either case) is the HMAC of `data` under one of
 * `secrets` (several during a key rotation); false for an empty list. Compared in constant
 * time, so timing tells an attacker nothing about the digest.
 */
export function verifySignature(
  data: string | Uint8Array,
  signature: string,
  secrets: readonly string[],
): boolean {
  if (!/^[0-9a-f]{64}$/i.test(signature)) return false;
  const given = Buffer.from(signature.toLowerCase(), "hex");
  let valid = false;
  // Every secret is tried, whichever matches, so the time does not say which key signed.
  for (const secret of secrets) {
    const hmac = createHmac("sha256", secret);
    const expected = (
      typeof data === "string" ? hmac.update(data, "utf8") : hmac.update(data)
    ).digest();
    if (timingSafeEqual(expected, given)) valid = true;
  }
  return valid;
}
