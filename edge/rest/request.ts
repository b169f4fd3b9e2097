import { create, fromJson, mergeFromJson, ScalarType, type DescField, type DescMessage, type JsonValue, type Message } from "@bufbuild/protobuf";
import type { PathTemplate } from "./path-template.js";
import { restRefusal, type RestRefusalReason } from "./refusals.js";

/** Where the request message comes from, compiled once per http rule. */
export interface RequestMapping {
  input: DescMessage;
  /** The field path of each path variable, in template order. */
  pathFields: DescField[][];
  /** No body, the whole message (`body: "*"`), or one top-level field. */
  body: { kind: "none" } | { kind: "all" } | { kind: "field"; field: DescField };
  /** Proto field paths ("user.name") that the path or the body set; query parameters may not. */
  bound: string[];
}

/** What one HTTP request supplies. */
export interface RequestParts {
  /** Path variable values, in template order. */
  variables: string[];
  query: URLSearchParams;
  /** The parsed JSON body, or undefined when there was none. */
  body: JsonValue | undefined;
}

/** Where a text value came from, for the refusal that names it. */
interface TextSource {
  /** For messages: `query parameter "page_size"`. */
  what: string;
  /** The BadRequest violation's field: the key as sent. */
  field: string;
  reason: RestRefusalReason;
}

/** Compiles how a rule maps HTTP onto the method's request message; throws if the rule names fields that do not exist. */
export function compileRequestMapping(input: DescMessage, template: PathTemplate, body: string): RequestMapping {
  const pathFields = template.variables.map((v) => resolveFieldPath(input, v.fieldPath, `path template "${template.source}"`));
  let bodyMapping: RequestMapping["body"] = { kind: "none" };
  if (body === "*") bodyMapping = { kind: "all" };
  else if (body !== "") {
    const field = input.fields.find((f) => f.name === body);
    if (!field) throw new Error(`http rule body "${body}" is not a field of ${input.typeName}`);
    bodyMapping = { kind: "field", field };
  }
  const bound = pathFields.map((path) => path.map((f) => f.name).join("."));
  if (bodyMapping.kind === "field") bound.push(bodyMapping.field.name);
  return { input, pathFields, body: bodyMapping, bound };
}

/** The chain of fields a field path (split on dots) names from `input`; throws, saying `what` named it, when one is missing. */
export function resolveFieldPath(input: DescMessage, names: readonly string[], what: string): DescField[] {
  const fields: DescField[] = [];
  let message: DescMessage | undefined = input;
  for (const name of names) {
    const field: DescField | undefined = message?.fields.find((f) => f.name === name);
    if (!field) throw new Error(`${what} names ${names.join(".")}, which is not a field of ${input.typeName}`);
    fields.push(field);
    message = field.fieldKind === "message" ? field.message : undefined;
  }
  return fields;
}

/**
 * Builds the request message: the body first (the whole message or one
 * field of it), then path variables (which win over the body), then query
 * parameters for every field neither sets. Query keys are proto or JSON
 * field names, dotted for nested fields (`preferences.theme=THEME_DARK`);
 * repeated fields repeat the key; enums take a name or a number; Timestamp,
 * Duration, FieldMask and wrappers take their proto3 JSON string form
 * (a FieldMask as comma-separated paths, snake_case or lowerCamelCase).
 * Anything else — an unknown key, a field the path or body sets, a message
 * that is not a well-known type, a map — is INVALID_ARGUMENT naming it.
 * The body is proto3 JSON (either field-name form) read strictly: an unknown
 * key is INVALID_ARGUMENT too (grpc-gateway discards them; here a typo in a
 * field name must not pass silently).
 */
export function buildRequest(mapping: RequestMapping, parts: RequestParts): Message {
  const { input } = mapping;
  const request = requestFromBody(mapping, parts.body);

  mapping.pathFields.forEach((fields, i) => {
    const name = fields.map((f) => f.name).join(".");
    setLeaf(input, request, fields, [parts.variables[i]!], { what: `path variable "${name}"`, field: name, reason: "INVALID_PATH_VARIABLE" });
  });

  for (const key of new Set(parts.query.keys())) {
    const fields = queryFields(input, key);
    const name = fields.map((f) => f.name).join(".");
    if (mapping.body.kind === "all" || mapping.bound.some((b) => name === b || name.startsWith(`${b}.`) || b.startsWith(`${name}.`))) {
      const why = mapping.body.kind === "all" ? "this method takes every field in the body" : "the path or the body sets it";
      throw restRefusal("INVALID_QUERY_PARAMETER", key, `query parameter "${key}" is not allowed: ${why}`);
    }
    setLeaf(input, request, fields, parts.query.getAll(key), { what: `query parameter "${key}"`, field: key, reason: "INVALID_QUERY_PARAMETER" });
  }
  return request;
}

/**
 * The request message as the body sets it: the whole message or one field
 * of it. A refusal tells an unknown key (UNKNOWN_BODY_FIELD) from a bad
 * value (INVALID_BODY) by reading the body again without the unknown keys,
 * which only a refused body pays for.
 */
function requestFromBody(mapping: RequestMapping, body: JsonValue | undefined): Message {
  const { input } = mapping;
  const read = (ignoreUnknownFields: boolean): Message => {
    if (mapping.body.kind === "all") return fromJson(input, body ?? {}, { ignoreUnknownFields });
    const request = create(input);
    if (mapping.body.kind === "field" && body !== undefined) mergeFromJson(input, request, { [mapping.body.field.name]: body }, { ignoreUnknownFields });
    return request;
  };
  try {
    return read(false);
  } catch (error) {
    let unknownKey = false;
    try {
      read(true);
      unknownKey = true;
    } catch {
      // A bad value, with or without unknown keys.
    }
    throw restRefusal(unknownKey ? "UNKNOWN_BODY_FIELD" : "INVALID_BODY", "body", `invalid request body: ${messageOf(error)}`);
  }
}

/** Resolves a dotted query key to fields, accepting proto and JSON names. */
function queryFields(input: DescMessage, key: string): DescField[] {
  const fields: DescField[] = [];
  let message: DescMessage | undefined = input;
  for (const name of key.split(".")) {
    if (!message) throw restRefusal("UNKNOWN_QUERY_PARAMETER", key, `unknown query parameter "${key}": ${fields.at(-1)!.name} has no fields to set`);
    const field: DescField | undefined = message.fields.find((f) => f.name === name || f.jsonName === name);
    if (!field) throw restRefusal("UNKNOWN_QUERY_PARAMETER", key, `unknown query parameter "${key}": ${input.typeName} has no such field`);
    fields.push(field);
    message = field.fieldKind === "message" && !isWellKnownLeaf(field.message) ? field.message : undefined;
  }
  return fields;
}

/** Sets the field at the end of `fields` from text values, through proto3 JSON so types are checked one way. */
function setLeaf(input: DescMessage, request: Message, fields: DescField[], values: string[], source: TextSource): void {
  const leaf = fields.at(-1)!;
  if (fields.length === 1 && values.length === 1 && leaf.fieldKind === "scalar" && leaf.scalar === ScalarType.STRING && !leaf.oneof) {
    // A top-level string field (a path's `name`): proto3 JSON takes any string as it is, so skip the round trip.
    (request as unknown as Record<string, unknown>)[leaf.localName] = values[0];
    return;
  }
  let json: JsonValue;
  if (leaf.fieldKind === "list") {
    json = values.map((value) => leafJson(leaf, value, source));
  } else {
    if (values.length > 1) throw refusal(source, `${source.what} is given ${values.length} times, but ${leaf.name} is not repeated`);
    json = leafJson(leaf, values[0]!, source);
  }
  for (const field of [...fields].reverse()) json = { [field.name]: json };
  try {
    mergeFromJson(input, request, json);
  } catch (error) {
    throw refusal(source, `invalid ${source.what}: ${messageOf(error)}`);
  }
}

const wrapperTypes = new Set(
  ["Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes"].map((t) => `google.protobuf.${t}Value`),
);
const stringForms = new Set(["google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"]);

function isWellKnownLeaf(message: DescMessage): boolean {
  return stringForms.has(message.typeName) || wrapperTypes.has(message.typeName);
}

/** One text value as the proto3 JSON value of a field (or of a list's element). */
function leafJson(field: DescField, text: string, source: TextSource): JsonValue {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  if (kind === "enum") return /^-?\d+$/.test(text) ? Number(text) : text;
  if (kind === "scalar") return scalarJson(field.scalar!, text, source);
  if (kind === "message" && field.message && isWellKnownLeaf(field.message)) {
    const typeName = field.message.typeName;
    if (typeName === "google.protobuf.FieldMask") {
      return text
        .split(",")
        .map((path) => path.trim().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()))
        .join(",");
    }
    if (stringForms.has(typeName)) return text;
    return scalarJson(field.message.fields[0]!.scalar!, text, source);
  }
  throw refusal(source, `${source.what} cannot be set from text: ${field.name} is a ${kind === "map" ? "map" : "message"}; set its fields, as ${field.name}.<field>`);
}

function scalarJson(type: ScalarType, text: string, source: TextSource): JsonValue {
  if (type !== ScalarType.BOOL) return text;
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  throw refusal(source, `invalid ${source.what}: expected true or false, got "${text}"`);
}

function refusal(source: TextSource, description: string) {
  return restRefusal(source.reason, source.field, description);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
