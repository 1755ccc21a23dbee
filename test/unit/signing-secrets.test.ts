import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { ConfigError, loadConfig } from "../../src/config/config.ts";
import { parseSigningSecrets } from "../../src/config/signing-secrets.ts";
import { signData, verifySignature } from "../../src/contract/signature.ts";

const SYNTAX =
  '(write a comma inside a secret as "\\,", a backslash as "\\\\", a leading or trailing space as "\\ ")';

function secrets(text: string): readonly string[] {
  return loadConfig({ PAYCORE_SIGNING_SECRET: text }).signingSecrets;
}

function issueFor(text: string): { variable: string; message: string } {
  try {
    loadConfig({ PAYCORE_SIGNING_SECRET: text, BATCH_SIZE: "x" });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Reported alongside any other bad variable, in one error.
    expect(error.issues.map((issue) => issue.variable)).toEqual([
      "BATCH_SIZE",
      "PAYCORE_SIGNING_SECRET",
    ]);
    return error.issues[1] as { variable: string; message: string };
  }
  throw new Error("expected a ConfigError");
}

describe("PAYCORE_SIGNING_SECRET format", () => {
  test("unset: no secrets, signature checks off", () => {
    expect(loadConfig({}).signingSecrets).toEqual([]);
  });

  test("comma-separated, each item trimmed", () => {
    expect(secrets("new-key")).toEqual(["new-key"]);
    expect(secrets(" new-key , old-key ")).toEqual(["new-key", "old-key"]);
    expect(secrets("a b,\tc d\t")).toEqual(["a b", "c d"]);
  });

  test("a backslash makes a comma, a backslash or whitespace part of the secret", () => {
    expect(secrets("a\\,b")).toEqual(["a,b"]);
    expect(secrets("a\\\\,b")).toEqual(["a\\", "b"]);
    expect(secrets("a\\\\\\,b")).toEqual(["a\\,b"]);
    expect(secrets("\\ lead, trail\\ ")).toEqual([" lead", "trail "]);
    expect(secrets("  \\  both \\  ")).toEqual(["  both  "]);
    expect(secrets("\\\t")).toEqual(["\t"]);
    expect(secrets("\\,")).toEqual([","]);
  });

  test("any secret can be written: characters outside ASCII are kept as they are", () => {
    expect(secrets("schlüssel-🔑,ключ")).toEqual(["schlüssel-🔑", "ключ"]);
    expect(secrets("\\ 🔑\\ ")).toEqual([" 🔑 "]);
  });

  const refused: [string, string][] = [
    ["", "a blank value (unset PAYCORE_SIGNING_SECRET to turn signature checks off)"],
    ["   ", "a blank value (unset PAYCORE_SIGNING_SECRET to turn signature checks off)"],
    ["\t\n", "a blank value (unset PAYCORE_SIGNING_SECRET to turn signature checks off)"],
    [" , ", `no secret: items 1 and 2 of 2 are empty ${SYNTAX}`],
    [",,,", `no secret: items 1, 2, 3 and 4 of 4 are empty ${SYNTAX}`],
    ["a,,b", `an empty item: item 2 of 3 ${SYNTAX}`],
    ["a,b,", `an empty item: item 3 of 3 ${SYNTAX}`],
    [",a", `an empty item: item 1 of 2 ${SYNTAX}`],
    [" , a, ,b", `empty items: items 1 and 3 of 4 ${SYNTAX}`],
    ["secret\\", `a lone backslash at the end of item 1 ${SYNTAX}`],
    ["a,b\\", `a lone backslash at the end of item 2 of 2 ${SYNTAX}`],
    [
      "a\\b,c",
      `a backslash before a character other than a comma, a backslash or whitespace in item 1 of 2 ${SYNTAX}`,
    ],
    [
      "a\\n,b,c\\x",
      `a backslash before a character other than a comma, a backslash or whitespace in items 1 and 3 of 3 ${SYNTAX}`,
    ],
    [
      "a\\x,,b\\",
      `an empty item: item 2 of 3; a backslash before a character other than a comma, a backslash or whitespace in item 1 of 3; a lone backslash at the end of item 3 of 3 ${SYNTAX}`,
    ],
  ];
  for (const [text, got] of refused) {
    test(`${JSON.stringify(text)} is refused, naming the variable and the item`, () => {
      expect(issueFor(text)).toEqual({
        variable: "PAYCORE_SIGNING_SECRET",
        message: `expected a comma-separated list of secrets, got ${got}`,
      });
    });
  }

  test("the value never appears in the error, not even a character of it", () => {
    for (const text of ["zq7,,", "zq7\\", "zq7\\Q", " zq7 , , "]) {
      try {
        loadConfig({ PAYCORE_SIGNING_SECRET: text });
        throw new Error("expected a ConfigError");
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        const shown = `${error.message}\n${JSON.stringify(error.issues)}`;
        expect(shown).toContain("PAYCORE_SIGNING_SECRET: expected a comma-separated list");
        expect(shown).not.toContain("zq7");
        expect(shown).not.toContain("Q");
      }
    }
  });

  test("parseSigningSecrets reports instead of throwing", () => {
    expect(parseSigningSecrets("a,b")).toEqual({ ok: true, secrets: ["a", "b"] });
    expect(parseSigningSecrets(" ")).toEqual({ ok: false, problem: "a blank value", blank: true });
    expect(parseSigningSecrets("a,")).toEqual({
      ok: false,
      problem: "an empty item: item 2 of 2",
      blank: false,
    });
  });
});

describe('what is signed (README "Signed events")', () => {
  const data = JSON.stringify({
    event_type: "paycore.payment_succeeded",
    trace_id: "evt_ü",
    tenant_id: "t1",
    user_id: "Jürgen-🎓",
    metadata: { course_id: "c1" },
  });

  test("hex HMAC-SHA256 of the UTF-8 bytes of data, keyed with the UTF-8 bytes of the secret", () => {
    const [secret] = loadConfig({ PAYCORE_SIGNING_SECRET: "schl\\,üssel\\ ,old" }).signingSecrets;
    expect(secret).toBe("schl,üssel ");
    const expected = createHmac("sha256", Buffer.from("schl,üssel ", "utf8"))
      .update(Buffer.from(data, "utf8"))
      .digest("hex");
    expect(signData(data, secret as string)).toBe(expected);
    expect(verifySignature(data, expected, ["other", secret as string])).toBe(true);
    // Not the data re-serialised, not trimmed: the exact string.
    expect(
      verifySignature(JSON.stringify(JSON.parse(data), null, 1), expected, [secret as string]),
    ).toBe(false);
    expect(verifySignature(` ${data}`, expected, [secret as string])).toBe(false);
  });

  test.skipIf(Bun.which("openssl") === null)(
    "the README's openssl line gives the same signature",
    () => {
      const secret = "new-key";
      const run = Bun.spawnSync(["openssl", "dgst", "-sha256", "-hmac", secret], {
        stdin: Buffer.from(data, "utf8"),
      });
      const signature = run.stdout.toString().trim().replace(/^.*= /, "");
      expect(signature).toBe(signData(data, secret));
    },
  );
});
