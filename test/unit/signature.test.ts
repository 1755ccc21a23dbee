import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { decodeEntry } from "../../src/contract/decode.ts";
import { signData, verifySignature } from "../../src/contract/signature.ts";
import { README_FLAT_ENTRY } from "../support/wire-examples.ts";

const data = JSON.stringify({
  event_type: "paycore.payment_succeeded",
  trace_id: "evt_1",
  tenant_id: "t1",
  user_id: "u1",
  metadata: { course_id: "c1" },
});

describe("signature", () => {
  test("is the hex HMAC-SHA256 of the exact data string", () => {
    expect(signData(data, "s3cret")).toBe(
      createHmac("sha256", "s3cret").update(data).digest("hex"),
    );
  });

  test("verifies under any secret of a rotation list, and nothing else", () => {
    const signature = signData(data, "old-key");
    expect(verifySignature(data, signature, ["new-key", "old-key"])).toBe(true);
    expect(verifySignature(data, signature.toUpperCase(), ["old-key"])).toBe(true);
    expect(verifySignature(data, signature, ["new-key"])).toBe(false);
    expect(verifySignature(`${data} `, signature, ["old-key"])).toBe(false);
    expect(verifySignature(data, "nothex", ["old-key"])).toBe(false);
    expect(verifySignature(data, signature.slice(2), ["old-key"])).toBe(false);
  });
});

describe("decodeEntry with signing on", () => {
  const options = { maxEventBytes: 65536, signingSecrets: ["k1"] };

  test("a correctly signed data-form entry decodes", () => {
    const result = decodeEntry(["data", data, "signature", signData(data, "k1")], options);
    expect(result.ok).toBe(true);
  });

  test.each([
    ["missing signature", ["data", data], "signature missing"],
    ["wrong signature", ["data", data, "signature", signData(data, "k2")], "does not match"],
    ["flat form", [...README_FLAT_ENTRY], "flat-form"],
  ])("%s → unauthenticated", (_name, fields, detail) => {
    const result = decodeEntry(fields, options);
    expect(result).toMatchObject({ ok: false, reason: "unauthenticated" });
    expect(result.ok ? "" : result.detail).toContain(detail);
  });

  test("unsigned entries pass when no secret is configured", () => {
    expect(decodeEntry(["data", data], { maxEventBytes: 65536 }).ok).toBe(true);
  });
});

describe("decodeEntry with simulated events refused", () => {
  const simulated = JSON.stringify({ ...JSON.parse(data), simulated: true });

  test("a simulated event is refused in production, accepted elsewhere", () => {
    expect(
      decodeEntry(["data", simulated], { maxEventBytes: 65536, rejectSimulated: true }),
    ).toMatchObject({
      ok: false,
      reason: "simulated",
      traceId: "evt_1",
    });
    expect(decodeEntry(["data", simulated], { maxEventBytes: 65536 }).ok).toBe(true);
    expect(decodeEntry(["data", data], { maxEventBytes: 65536, rejectSimulated: true }).ok).toBe(
      true,
    );
  });
});
