import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DomainError } from "../../services/kit/errors.js";
import { isStoredTime, isTextKeyset, isTimeKeyset, maxPageTokenLength, pageSize, pageTokens, type KeysetPosition } from "../../services/kit/page-token.js";

const key = randomBytes(32);
const tokens = pageTokens(key, "ListUsers", isTimeKeyset);
const query = { filter: 'role = ROLE_ADMIN', orderBy: "create_time desc", showDeleted: false };
const position: KeysetPosition = { value: "2026-01-31T12:00:00.000Z", id: "u-42" };

function refusal(token: string, forQuery: unknown = query, codec = tokens): DomainError {
  try {
    codec.decode(token, forQuery);
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw new Error(`expected a DomainError for ${JSON.stringify(token)}, got ${String(error)}`);
  }
  throw new Error(`expected ${JSON.stringify(token)} to be refused`);
}

const encodeRaw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A token laid out as the codec lays them out, MACed under `withKey`. */
function sealed(payload: unknown, withKey: Buffer): string {
  const bytes = Buffer.from(JSON.stringify(payload));
  return Buffer.concat([createHmac("sha256", withKey).update(bytes).digest(), bytes]).toString("base64url");
}

/** The payload of a real token, readable because tokens are authenticated, not encrypted. */
const payloadOf = (token: string) => JSON.parse(Buffer.from(token, "base64url").subarray(32).toString("utf8"));

describe("pageTokens", () => {
  it("round-trips a position for the same query", () => {
    const token = tokens.encode(position, query);
    expect(tokens.decode(token, { ...query })).toEqual(position);
  });

  it("issues opaque URL-safe tokens", () => {
    expect(tokens.encode(position, query)).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("reads an empty token as the first page", () => {
    expect(tokens.decode("", query)).toBeUndefined();
  });

  it("a token survives a restart: another codec under the same key reads it", () => {
    const token = tokens.encode(position, query);
    expect(pageTokens(Buffer.from(key), "ListUsers", isTimeKeyset).decode(token, query)).toEqual(position);
  });

  it("refuses a token issued under another key (another deployment's secret) as not issued here", () => {
    const token = pageTokens(randomBytes(32), "ListUsers", isTimeKeyset).encode(position, query);
    expect(refusal(token).message).toMatch(/not a token this API issued/);
  });

  it("refuses a token whose position was edited, even keeping the query fingerprint", () => {
    const token = tokens.encode(position, query);
    const payload = payloadOf(token);
    const edited = Buffer.concat([Buffer.from(token, "base64url").subarray(0, 32), Buffer.from(JSON.stringify({ ...payload, p: { ...position, id: "u-1" } }))]);
    expect(refusal(edited.toString("base64url")).reason).toBe("INVALID_PAGE_TOKEN");
  });

  it("refuses every single-character change of a real token", () => {
    const token = tokens.encode(position, query);
    for (let i = 0; i < token.length; i += 7) {
      const changed = token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
      if (changed !== token) expect(refusal(changed).reason).toBe("INVALID_PAGE_TOKEN");
    }
  });

  it("refuses a token of another method for the same query as issued for a different query", () => {
    const token = pageTokens(key, "ListDeployments", isTimeKeyset).encode(position, query);
    expect(refusal(token).message).toMatch(/different query/);
  });

  it("refuses a token issued for another query with INVALID_ARGUMENT INVALID_PAGE_TOKEN", () => {
    const token = tokens.encode(position, query);
    for (const other of [{ ...query, filter: "" }, { ...query, orderBy: "email" }, { ...query, showDeleted: true }]) {
      const error = refusal(token, other);
      expect(error).toMatchObject({ kind: "invalid-argument", reason: "INVALID_PAGE_TOKEN" });
      expect(error.message).toMatch(/different query/);
      expect(error.violations).toEqual([expect.objectContaining({ field: "page_token", reason: "INVALID_PAGE_TOKEN" })]);
    }
  });

  it.each(["garbage", "!!!", "eyJ", "a.b", "====", encodeRaw({ p: position }), encodeRaw("text"), encodeRaw(42), encodeRaw([1, 2])])(
    "refuses the garbage token %j with INVALID_PAGE_TOKEN",
    (token) => {
      expect(refusal(token).reason).toBe("INVALID_PAGE_TOKEN");
    },
  );

  it("refuses a token whose JSON is null with INVALID_PAGE_TOKEN, not a TypeError", () => {
    expect(refusal(encodeRaw(null)).reason).toBe("INVALID_PAGE_TOKEN");
    expect(refusal(sealed(null, key)).reason).toBe("INVALID_PAGE_TOKEN");
    expect(refusal(Buffer.concat([Buffer.alloc(32), Buffer.from("{")]).toString("base64url")).reason).toBe("INVALID_PAGE_TOKEN");
  });

  it("refuses a year-99999 position with INVALID_PAGE_TOKEN, forged or (had the key leaked) correctly sealed", () => {
    const far = { value: "+099999-01-01T00:00:00.000Z", id: "u-42" };
    expect(refusal(encodeRaw({ p: far, q: payloadOf(tokens.encode(position, query)).q })).reason).toBe("INVALID_PAGE_TOKEN");
    const sealedFar = sealed({ p: far, q: payloadOf(tokens.encode(position, query)).q }, key);
    expect(refusal(sealedFar).message).toMatch(/not a token this API issued/);
  });

  it("refuses a token for the right query whose position has the wrong shape", () => {
    const forged = tokens.encode({ value: 1, id: null } as unknown as KeysetPosition, query);
    expect(refusal(forged).message).toMatch(/not a token this API issued/);
  });

  it("keeps a token for the longest sort value a user can have well under the length limit", () => {
    const longest = { value: "\u0001".repeat(200), id: "0123456789abcdef0123456789abcdef01234567" };
    const byText = pageTokens(key, "ListUsers", isTextKeyset);
    const token = byText.encode(longest, { filter: "x".repeat(4096), orderBy: "display_name desc", showDeleted: true });
    expect(token.length).toBeLessThan(maxPageTokenLength);
  });
});

describe("isStoredTime", () => {
  it("accepts times as the stores write them and nothing else", () => {
    expect(isStoredTime("2026-01-31T12:00:00.000Z")).toBe(true);
    expect(isStoredTime("0000-01-01T00:00:00.000Z")).toBe(true);
    for (const bad of ["+099999-01-01T00:00:00.000Z", "2026-02-30T12:00:00.000Z", "2026-01-31T12:00:00Z", "2026-01-31", "", 42, null]) {
      expect(isStoredTime(bad)).toBe(false);
    }
  });
});

describe("pageSize", () => {
  it("uses the fallback for 0, the request up to the maximum, and the maximum beyond it", () => {
    expect(pageSize(0)).toBe(50);
    expect(pageSize(10)).toBe(10);
    expect(pageSize(1000)).toBe(1000);
    expect(pageSize(5000)).toBe(1000);
    expect(pageSize(0, 20, 100)).toBe(20);
    expect(pageSize(500, 20, 100)).toBe(100);
  });
});
