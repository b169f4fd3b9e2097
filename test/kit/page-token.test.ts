import { describe, expect, it } from "vitest";
import { DomainError } from "../../services/kit/errors.js";
import { pageSize, pageTokens } from "../../services/kit/page-token.js";

interface Position {
  createTime: string;
  id: string;
}

const isPosition = (value: unknown): value is Position =>
  typeof value === "object" && value !== null && typeof (value as Position).createTime === "string" && typeof (value as Position).id === "string";

const tokens = pageTokens(isPosition);
const query = { filter: 'role = ROLE_ADMIN', orderBy: "create_time desc", showDeleted: false };
const position: Position = { createTime: "2026-01-31T12:00:00.000Z", id: "u-42" };

function refusal(token: string, forQuery: unknown = query): DomainError {
  try {
    tokens.decode(token, forQuery);
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw new Error(`expected a DomainError for ${JSON.stringify(token)}, got ${String(error)}`);
  }
  throw new Error(`expected ${JSON.stringify(token)} to be refused`);
}

const encodeRaw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

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

  it("refuses a token issued for another query with INVALID_ARGUMENT INVALID_PAGE_TOKEN", () => {
    const token = tokens.encode(position, query);
    for (const other of [{ ...query, filter: "" }, { ...query, orderBy: "email" }, { ...query, showDeleted: true }]) {
      const error = refusal(token, other);
      expect(error).toMatchObject({ kind: "invalid-argument", reason: "INVALID_PAGE_TOKEN" });
      expect(error.message).toMatch(/different query/);
      expect(error.violations).toEqual([expect.objectContaining({ field: "page_token", reason: "INVALID_PAGE_TOKEN" })]);
    }
  });

  it.each(["garbage", "!!!", "eyJ", encodeRaw({ p: position }), encodeRaw("text"), encodeRaw(42), encodeRaw([1, 2])])(
    "refuses the garbage token %j with INVALID_PAGE_TOKEN",
    (token) => {
      expect(refusal(token).reason).toBe("INVALID_PAGE_TOKEN");
    },
  );

  it("refuses a token whose JSON is null with INVALID_PAGE_TOKEN, not a TypeError", () => {
    expect(refusal(encodeRaw(null)).reason).toBe("INVALID_PAGE_TOKEN");
  });

  it("refuses a token for the right query whose position has the wrong shape", () => {
    const forged = tokens.encode({ createTime: 1, id: null } as unknown as Position, query);
    expect(refusal(forged).message).toMatch(/not a token this API issued/);
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
