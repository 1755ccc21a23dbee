import { createHmac, timingSafeEqual } from "node:crypto";

/** How PayCore signs an entry: hex HMAC-SHA256 of the exact `data` string. */
export function signData(data: string, secret: string): string {
  return createHmac("sha256", secret).update(data, "utf8").digest("hex");
}

/**
 * True when `signature` is the HMAC of `data` under one of `secrets` (several during a key
 * rotation). Compared in constant time, so timing tells an attacker nothing about the digest.
 */
export function verifySignature(
  data: string,
  signature: string,
  secrets: readonly string[],
): boolean {
  if (!/^[0-9a-f]{64}$/i.test(signature)) return false;
  const given = Buffer.from(signature.toLowerCase(), "hex");
  let valid = false;
  // Every secret is tried, whichever matches, so the time does not say which key signed.
  for (const secret of secrets) {
    const expected = createHmac("sha256", secret).update(data, "utf8").digest();
    if (timingSafeEqual(expected, given)) valid = true;
  }
  return valid;
}
