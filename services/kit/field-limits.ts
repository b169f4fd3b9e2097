import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import type { FieldViolation } from "./errors.js";
import { filterLimits } from "./filter.js";
import { maxPageTokenLength } from "./page-token.js";

/** The most a string or bytes field may hold, and the reason a longer one is refused with. */
export interface FieldLimit {
  /** UTF-8 bytes of a string; bytes of a bytes field. */
  maxBytes: number;
  reason: string;
}

/** Bounds on every field of every request, whatever the method. */
export interface FieldLimits {
  /** Strings and bytes fields without an override. */
  value: FieldLimit;
  /** The most elements of a repeated or map field. */
  maxElements: number;
  /**
   * Limits of particular fields, by full name ("launchpad.user.v1.LoginRequest.email")
   * or, for every message, by proto field name ("filter").
   */
  overrides: Readonly<Record<string, FieldLimit>>;
}

/**
 * The defaults: far above anything a real client sends (the tightest
 * per-method rule, such as 1,000 characters of description, stays the one
 * people meet), yet small enough that no request can fill a disk, make a
 * password hash slow, or build a query the database cannot run.
 */
export const defaultFieldLimits: FieldLimits = {
  value: { maxBytes: 4096, reason: "FIELD_TOO_LONG" },
  maxElements: 1000,
  overrides: {
    filter: { maxBytes: filterLimits.maxBytes, reason: "FILTER_TOO_COMPLEX" },
    page_token: { maxBytes: maxPageTokenLength, reason: "INVALID_PAGE_TOKEN" },
  },
};

/**
 * Every field of `message` (nested messages, list elements, map keys and
 * values included) over its limit, by dotted proto path; every string
 * holding U+0000, which PostgreSQL cannot store in text (NUL_CHARACTER); and
 * every google.protobuf.Timestamp outside its documented range, years
 * 0001–9999, which no store can hold (INVALID_TIMESTAMP).
 */
export function fieldLimitViolations(schema: DescMessage, message: Message, limits: FieldLimits, prefix = ""): FieldViolation[] {
  const violations: FieldViolation[] = [];
  for (const field of schema.fields) {
    const value = valueOf(message, field);
    if (value === undefined) continue;
    const path = prefix + field.name;
    switch (field.fieldKind) {
      case "scalar":
        checkValue(value, path, field, limits, violations);
        break;
      case "message":
        violations.push(...messageViolations(field.message, value as Message, limits, path));
        break;
      case "list": {
        const elements = value as unknown[];
        if (elements.length > limits.maxElements) {
          violations.push(tooMany(path, limits));
          break;
        }
        elements.forEach((element, i) =>
          field.listKind === "message"
            ? violations.push(...messageViolations(field.message, element as Message, limits, `${path}[${i}]`))
            : checkValue(element, `${path}[${i}]`, field, limits, violations),
        );
        break;
      }
      case "map": {
        const entries = Object.entries(value as Record<string, unknown>);
        if (entries.length > limits.maxElements) {
          violations.push(tooMany(path, limits));
          break;
        }
        for (const [key, entry] of entries) {
          // A key over the limit is reported on the map: the path would repeat it.
          if (!checkValue(key, path, field, limits, violations)) continue;
          if (field.mapKind === "message") violations.push(...messageViolations(field.message, entry as Message, limits, `${path}[${key}]`));
          else checkValue(entry, `${path}[${key}]`, field, limits, violations);
        }
        break;
      }
    }
  }
  return violations;
}

/** The violations of a nested message at `path`: a Timestamp's range, or its own fields. */
function messageViolations(schema: DescMessage, message: Message, limits: FieldLimits, path: string): FieldViolation[] {
  if (schema.typeName !== "google.protobuf.Timestamp") return fieldLimitViolations(schema, message, limits, `${path}.`);
  const { seconds, nanos } = message as unknown as { seconds: bigint; nanos: number };
  const valid = seconds >= earliestSeconds && seconds <= latestSeconds && nanos >= 0 && nanos <= 999_999_999;
  return valid ? [] : [{ field: path, reason: "INVALID_TIMESTAMP", description: "must be a time from 0001-01-01 to 9999-12-31 (UTC)" }];
}

/** The range google/protobuf/timestamp.proto documents: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
const earliestSeconds = -62_135_596_800n;
const latestSeconds = 253_402_300_799n;

/** A field's value, reading a oneof member through its group; undefined when unset. */
function valueOf(message: Message, field: DescField): unknown {
  const fields = message as unknown as Record<string, unknown>;
  if (field.oneof) {
    const group = fields[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
    return group?.case === field.localName ? group.value : undefined;
  }
  return fields[field.localName];
}

/** Checks one string or bytes value; whether it was acceptable. Numbers and booleans always are. */
function checkValue(value: unknown, path: string, field: DescField, limits: FieldLimits, violations: FieldViolation[]): boolean {
  const size = typeof value === "string" ? Buffer.byteLength(value) : value instanceof Uint8Array ? value.length : 0;
  const limit = limitOf(field, limits);
  if (size > limit.maxBytes) {
    violations.push({ field: path, reason: limit.reason, description: `must be at most ${limit.maxBytes} bytes` });
    return false;
  }
  if (typeof value === "string" && value.includes("\0")) {
    violations.push({ field: path, reason: "NUL_CHARACTER", description: "must not contain the NUL character (U+0000)" });
    return false;
  }
  return true;
}

function tooMany(path: string, limits: FieldLimits): FieldViolation {
  return { field: path, reason: "TOO_MANY_ELEMENTS", description: `must have at most ${limits.maxElements} elements` };
}

const resolved = new WeakMap<FieldLimits, WeakMap<DescField, FieldLimit>>();

/** The limit of one field, looked up once per field and limits. */
function limitOf(field: DescField, limits: FieldLimits): FieldLimit {
  let cache = resolved.get(limits);
  if (!cache) resolved.set(limits, (cache = new WeakMap()));
  let limit = cache.get(field);
  if (!limit) {
    const overrideOf = (name: string) => (Object.hasOwn(limits.overrides, name) ? limits.overrides[name] : undefined);
    limit = overrideOf(`${field.parent.typeName}.${field.name}`) ?? overrideOf(field.name) ?? limits.value;
    cache.set(field, limit);
  }
  return limit;
}
