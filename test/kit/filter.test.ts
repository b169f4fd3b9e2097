import { describe, expect, it } from "vitest";
import { DomainError } from "../../services/kit/errors.js";
import { filterLimits, parseFilter, type FilterField } from "../../services/kit/filter.js";

const fields: Record<string, FilterField> = {
  email: { kind: "string" },
  display_name: { kind: "string" },
  role: { kind: "enum", values: { ROLE_VIEWER: 1, ROLE_DEPLOYER: 2, ROLE_ADMIN: 4 } },
  create_time: { kind: "timestamp" },
};

/** The INVALID_FILTER error parsing `text` throws. */
function refusal(text: string): DomainError {
  try {
    parseFilter(text, fields);
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw new Error(`expected a DomainError for ${JSON.stringify(text)}, got ${String(error)}`);
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe("parseFilter", () => {
  it("reads nothing from an empty or blank filter", () => {
    expect(parseFilter("", fields)).toEqual([]);
    expect(parseFilter("   ", fields)).toEqual([]);
  });

  it("reads string comparisons: =, != and : (contains), quoted or bare", () => {
    expect(parseFilter('email = "ada@example.com"', fields)).toEqual([{ field: "email", operator: "=", value: "ada@example.com" }]);
    expect(parseFilter("email != ada@example.com", fields)).toEqual([{ field: "email", operator: "!=", value: "ada@example.com" }]);
    expect(parseFilter('display_name : "Ada L"', fields)).toEqual([{ field: "display_name", operator: ":", value: "Ada L" }]);
  });

  it("reads quoted strings with escapes and spaces", () => {
    expect(parseFilter('display_name = "say \\"hi\\" AND bye"', fields)).toEqual([
      { field: "display_name", operator: "=", value: 'say "hi" AND bye' },
    ]);
  });

  it("reads enum values by name or number", () => {
    expect(parseFilter("role = ROLE_ADMIN", fields)).toEqual([{ field: "role", operator: "=", value: 4 }]);
    expect(parseFilter("role != 2", fields)).toEqual([{ field: "role", operator: "!=", value: 2 }]);
  });

  it("reads RFC 3339 times with every ordering operator", () => {
    for (const operator of ["=", "!=", "<", "<=", ">", ">="]) {
      expect(parseFilter(`create_time ${operator} "2026-01-31T12:00:00Z"`, fields)).toEqual([
        { field: "create_time", operator, value: new Date("2026-01-31T12:00:00Z") },
      ]);
    }
    expect(parseFilter('create_time > "2026-01-31T12:00:00+02:00"', fields)[0]!.value).toEqual(new Date("2026-01-31T10:00:00Z"));
  });

  it("joins comparisons with AND, in any case, with or without spaces around operators", () => {
    expect(parseFilter('role=ROLE_ADMIN and email:"example.com" AND create_time>="2026-01-01T00:00:00Z"', fields)).toEqual([
      { field: "role", operator: "=", value: 4 },
      { field: "email", operator: ":", value: "example.com" },
      { field: "create_time", operator: ">=", value: new Date("2026-01-01T00:00:00Z") },
    ]);
  });

  it.each([
    ["OR", "role = ROLE_ADMIN OR role = ROLE_VIEWER", /only AND is supported/],
    ["a missing AND", "role = ROLE_ADMIN email = x", /only AND is supported/],
    ["parentheses", "(role = ROLE_ADMIN)", /parentheses are not supported/],
    ["a trailing AND", "role = ROLE_ADMIN AND", /expected a comparison/],
    ["a lone field", "email", /expected a comparison/],
    ["a missing operator", "email ada@example.com x", /expected an operator after "email"/],
    ["an unknown field", "password = x", /unknown field "password"; filterable fields are email, display_name, role, create_time/],
    ["a bad enum name", "role = ROLE_KING", /"ROLE_KING" is not a value of "role"; use one of ROLE_VIEWER, ROLE_DEPLOYER, ROLE_ADMIN/],
    ["a bad enum number", "role = 3", /"3" is not a value of "role"/],
    ["an ordering operator on an enum", "role > ROLE_VIEWER", /"role" supports = and !=/],
    ["an ordering operator on a string", "email < b", /"email" supports =, != and :/],
    ["contains on a time", 'create_time : "2026"', /"create_time" supports =, !=, <, <=, > and >=/],
    ["a time that is not RFC 3339", 'create_time > "yesterday"', /"yesterday" is not an RFC 3339 time, for example/],
    ["an impossible date", 'create_time > "2026-13-45T00:00:00Z"', /is not an RFC 3339 time/],
  ])("refuses %s with INVALID_ARGUMENT INVALID_FILTER and says why", (_, text, message) => {
    const error = refusal(text);
    expect(error.kind).toBe("invalid-argument");
    expect(error.reason).toBe("INVALID_FILTER");
    expect(error.message).toMatch(message);
    expect(error.violations).toEqual([{ field: "filter", description: expect.stringMatching(message), reason: "INVALID_FILTER" }]);
  });

  it("refuses NOT with INVALID_FILTER, naming it", () => {
    const error = refusal("NOT role = ROLE_ADMIN");
    expect(error.reason).toBe("INVALID_FILTER");
    expect(error.message).toContain("NOT");
  });

  it("refuses a string holding NUL (\\u0000), which PostgreSQL cannot compare, with INVALID_FILTER", () => {
    expect(refusal('email = "a\\u0000b"').message).toContain("NUL");
  });

  it("refuses a string with an invalid escape with INVALID_FILTER, not a SyntaxError", () => {
    expect(refusal('email = "a\\qb"').reason).toBe("INVALID_FILTER");
  });

  it("refuses field names inherited from Object.prototype as unknown fields", () => {
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      expect(refusal(`${name} = x`).message).toContain(`unknown field "${name}"`);
    }
  });

  it("refuses a time without a zone offset, whose meaning would depend on the server's zone", () => {
    expect(refusal('create_time > "2026-01-31T12:00:00"').reason).toBe("INVALID_FILTER");
  });

  it("refuses a time a zone offset carries outside the years 0000–9999, which no stored time can be compared with", () => {
    for (const time of ["9999-12-31T23:00:00-05:00", "0000-01-01T00:30:00+01:00"]) {
      const error = refusal(`create_time > "${time}"`);
      expect(error.reason).toBe("INVALID_FILTER");
      expect(error.message).toMatch(/0000 to 9999/);
    }
    expect(parseFilter('create_time < "9999-12-31T23:59:59Z"', fields)).toHaveLength(1);
  });
});

describe("filter complexity", () => {
  const terms = (n: number) => Array.from({ length: n }, (_, i) => `email != "user${i}@example.com"`).join(" AND ");

  it(`accepts up to ${filterLimits.maxTerms} comparisons`, () => {
    expect(parseFilter(terms(filterLimits.maxTerms), fields)).toHaveLength(filterLimits.maxTerms);
  });

  it.each([filterLimits.maxTerms + 1, 1500])("refuses %i comparisons with INVALID_ARGUMENT FILTER_TOO_COMPLEX", (n) => {
    const error = refusal(terms(n));
    expect(error).toMatchObject({ kind: "invalid-argument", reason: "FILTER_TOO_COMPLEX" });
    expect(error.violations).toEqual([{ field: "filter", description: expect.stringContaining(`${filterLimits.maxTerms} comparisons`), reason: "FILTER_TOO_COMPLEX" }]);
  });

  it("reports a syntax error before the limit as the syntax error it is", () => {
    expect(refusal(`${terms(2)} OR role = ROLE_ADMIN`).reason).toBe("INVALID_FILTER");
  });
});
