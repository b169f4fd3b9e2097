import { DomainError } from "./errors.js";

/** Comparison operators of the supported AIP-160 subset. ":" means "contains" on strings. */
export type FilterOperator = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":";

/** One comparison of a filter; terms are joined with AND. */
export interface FilterTerm {
  field: string;
  operator: FilterOperator;
  /** A string, an enum number, or a time. */
  value: string | number | Date;
}

/** How a filterable field reads its values. */
export type FilterField =
  | { kind: "string" }
  | { kind: "enum"; values: Readonly<Record<string, number>> }
  | { kind: "timestamp" };

/**
 * The values of a generated enum as a filter accepts them: full proto names
 * (protobuf-es strips the prefix, so it is put back) without the zero value.
 */
export function enumFilterValues(values: Record<string, string | number>, prefix: string): Record<string, number> {
  return Object.fromEntries(
    Object.entries(values)
      .filter((entry): entry is [string, number] => typeof entry[1] === "number" && entry[1] !== 0)
      .map(([name, number]) => [`${prefix}${name}`, number]),
  );
}

/**
 * How complex a filter may be. Only AND of comparisons is supported, so
 * nesting is never deeper than one; the byte limit is enforced by the
 * validation middleware (see field-limits.ts), with the same reason. Far
 * below SQLite's expression depth (1000) and any PostgreSQL limit.
 */
export const filterLimits = { maxBytes: 4096, maxTerms: 32 } as const;

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

const token = /\s*(?:(?<string>"(?:[^"\\]|\\.)*")|(?<op><=|>=|!=|=|<|>|:)|(?<word>[^\s"<>=!:()]+)|(?<other>\S))/y;

/**
 * Parses a filter such as `role = ROLE_ADMIN AND email : "example.com"`:
 * comparisons of a known field with a value, joined by AND. Anything else
 * (OR, NOT, parentheses, unknown fields, bad values) is refused with
 * INVALID_ARGUMENT and reason INVALID_FILTER, saying what was wrong; more
 * than filterLimits.maxTerms comparisons with FILTER_TOO_COMPLEX.
 */
export function parseFilter(text: string, fields: Readonly<Record<string, FilterField>>): FilterTerm[] {
  const tokens = tokenize(text);
  const terms: FilterTerm[] = [];
  let i = 0;
  while (i < tokens.length) {
    if (terms.length > 0) {
      if (tokens[i]?.toUpperCase() !== "AND") {
        throw invalidFilter(`expected AND before "${tokens[i]}"; only AND is supported`);
      }
      if (terms.length === filterLimits.maxTerms) throw tooComplex();
      i++;
    }
    const [field, operator, value] = [tokens[i], tokens[i + 1], tokens[i + 2]];
    if (field === undefined || operator === undefined || value === undefined) {
      throw invalidFilter("expected a comparison: field, operator, value");
    }
    terms.push(parseTerm(field, operator, value, fields));
    i += 3;
  }
  return terms;
}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  token.lastIndex = 0;
  while (token.lastIndex < text.length) {
    const match = token.exec(text);
    if (!match?.groups) break;
    const { string, op, word, other } = match.groups;
    if (other !== undefined) throw invalidFilter(`unexpected "${other}"; OR, NOT and parentheses are not supported`);
    const value = string ?? op ?? word;
    if (value !== undefined) tokens.push(value);
  }
  return tokens;
}

function parseTerm(
  field: string,
  operator: string,
  raw: string,
  fields: Readonly<Record<string, FilterField>>,
): FilterTerm {
  const spec = Object.hasOwn(fields, field) ? fields[field] : undefined;
  if (!spec) {
    throw invalidFilter(`unknown field "${field}"; filterable fields are ${Object.keys(fields).join(", ")}`);
  }
  if (!isOperator(operator)) throw invalidFilter(`expected an operator after "${field}", got "${operator}"`);
  const text = raw.startsWith('"') ? unquote(raw) : raw;
  switch (spec.kind) {
    case "string":
      if (!["=", "!=", ":"].includes(operator)) throw invalidFilter(`"${field}" supports =, != and :`);
      return { field, operator, value: text };
    case "enum": {
      if (operator !== "=" && operator !== "!=") throw invalidFilter(`"${field}" supports = and !=`);
      const value = (Object.hasOwn(spec.values, text) ? spec.values[text] : undefined) ?? (/^\d+$/.test(text) ? Number(text) : undefined);
      if (value === undefined || !Object.values(spec.values).includes(value)) {
        throw invalidFilter(`"${text}" is not a value of "${field}"; use one of ${Object.keys(spec.values).join(", ")}`);
      }
      return { field, operator, value };
    }
    case "timestamp": {
      if (operator === ":") throw invalidFilter(`"${field}" supports =, !=, <, <=, > and >=`);
      const value = new Date(text);
      if (Number.isNaN(value.getTime()) || !rfc3339.test(text)) {
        throw invalidFilter(`"${text}" is not an RFC 3339 time, for example "2026-01-31T12:00:00Z"`);
      }
      // A zone offset can carry 9999-12-31 or 0000-01-01 out of the years stored times have.
      if (value < earliestTime || value > latestTime) {
        throw invalidFilter(`"${text}" is outside the years 0000 to 9999 (UTC)`);
      }
      return { field, operator, value };
    }
  }
}

const earliestTime = new Date("0000-01-01T00:00:00.000Z");
const latestTime = new Date("9999-12-31T23:59:59.999Z");

function unquote(raw: string): string {
  let text: string;
  try {
    text = JSON.parse(raw) as string;
  } catch {
    throw invalidFilter(`${raw} is not a valid string: use \\" and \\\\ for quotes and backslashes`);
  }
  // No stored text holds U+0000 (validation refuses it), and PostgreSQL cannot compare with it.
  if (text.includes("\0")) throw invalidFilter(`${raw} holds the NUL character (\\u0000), which no value can contain`);
  return text;
}

function isOperator(text: string): text is FilterOperator {
  return ["=", "!=", "<", "<=", ">", ">=", ":"].includes(text);
}

function tooComplex(): DomainError {
  const description = `has more than ${filterLimits.maxTerms} comparisons; narrow it or split the query`;
  return new DomainError("invalid-argument", "FILTER_TOO_COMPLEX", `filter: ${description}`, {
    violations: [{ field: "filter", description, reason: "FILTER_TOO_COMPLEX" }],
  });
}

function invalidFilter(description: string): DomainError {
  return new DomainError("invalid-argument", "INVALID_FILTER", `filter: ${description}`, {
    violations: [{ field: "filter", description, reason: "INVALID_FILTER" }],
  });
}
