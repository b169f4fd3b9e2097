import { getOption, ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { FieldBehavior, field_behavior } from "../../gen/google/api/field_behavior_pb.js";
import { commentOf } from "./comments.js";

/** A JSON Schema (OpenAPI 3.1 dialect) or an OpenAPI object: plain JSON. */
export type Json = { [key: string]: unknown };

/** The `google.api.field_behavior` annotations of a field. */
export function behaviorsOf(field: DescField): ReadonlySet<FieldBehavior> {
  return new Set(getOption(field, field_behavior));
}

/** The name a message or enum has under #/components/schemas: its full proto name. */
export function componentName(desc: DescMessage | DescEnum): string {
  return desc.typeName;
}

/** A $ref to a component schema. */
export function refTo(name: string): Json {
  return { $ref: `#/components/schemas/${name}` };
}

const int64 = { type: "string", format: "int64", pattern: "^-?[0-9]+$" };
const uint64 = { type: "string", pattern: "^[0-9]+$" };

/** Scalars in the proto3 JSON mapping: 64-bit integers are decimal strings, bytes base64. */
function scalarSchema(scalar: ScalarType): Json {
  switch (scalar) {
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { ...int64 };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { ...uint64 };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", minimum: 0, maximum: 4294967295 };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
  }
}

const nullable = (schema: Json): Json => ({ ...schema, type: [schema["type"], "null"] });

/**
 * Well-known types with a special JSON form, inlined wherever they are used
 * (their JSON is a string, a number or free-form, not an object of fields).
 */
const wellKnown: Record<string, () => Json> = {
  "google.protobuf.Timestamp": () => ({ type: "string", format: "date-time" }),
  "google.protobuf.Duration": () => ({ type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$" }),
  "google.protobuf.FieldMask": () => ({ type: "string" }),
  "google.protobuf.Struct": () => ({ type: "object", additionalProperties: true }),
  "google.protobuf.Value": () => ({}),
  "google.protobuf.ListValue": () => ({ type: "array", items: {} }),
  "google.protobuf.Empty": () => ({ type: "object" }),
  "google.protobuf.DoubleValue": () => nullable(scalarSchema(ScalarType.DOUBLE)),
  "google.protobuf.FloatValue": () => nullable(scalarSchema(ScalarType.FLOAT)),
  "google.protobuf.Int64Value": () => nullable(scalarSchema(ScalarType.INT64)),
  "google.protobuf.UInt64Value": () => nullable(scalarSchema(ScalarType.UINT64)),
  "google.protobuf.Int32Value": () => nullable(scalarSchema(ScalarType.INT32)),
  "google.protobuf.UInt32Value": () => nullable(scalarSchema(ScalarType.UINT32)),
  "google.protobuf.BoolValue": () => nullable(scalarSchema(ScalarType.BOOL)),
  "google.protobuf.StringValue": () => nullable(scalarSchema(ScalarType.STRING)),
  "google.protobuf.BytesValue": () => nullable(scalarSchema(ScalarType.BYTES)),
};

/** Whether a message's JSON form is a single value (a string, a number), so it can be a query parameter. */
export function hasScalarJson(desc: DescMessage): boolean {
  const schema = wellKnown[desc.typeName]?.();
  return schema !== undefined && typeof schema["type"] !== "undefined" && schema["type"] !== "object" && schema["type"] !== "array";
}

/** What the JSON form of well-known types means, added to a field's description. */
const wellKnownNotes: Record<string, string> = {
  "google.protobuf.Timestamp": "An RFC 3339 timestamp, for example `2024-05-01T12:00:00Z`.",
  "google.protobuf.Duration": "A duration in seconds with an `s` suffix, for example `1.5s`.",
  "google.protobuf.FieldMask": "Comma-separated lowerCamelCase field paths, for example `displayName,preferences.theme`.",
};

/** The JSON of google.protobuf.Any: the type URL and the message's own fields. */
const anySchema: Json = {
  type: "object",
  description: "Any message, in proto3 JSON: `@type` names its type, the other properties are its fields.",
  properties: { "@type": { type: "string", description: "The type URL, for example `type.googleapis.com/google.rpc.ErrorInfo`." } },
  required: ["@type"],
  additionalProperties: true,
};

/** The parts given and not empty, as paragraphs of one description. */
export function join(...parts: (string | undefined)[]): string {
  return parts.filter((part) => part !== undefined && part !== "").join("\n\n");
}

function list(names: readonly string[]): string {
  return names.map((name) => `\`${name}\``).join(", ");
}

/** Turns messages and enums into component schemas in the proto3 JSON mapping, as they are referenced. */
export class SchemaBuilder {
  readonly #schemas = new Map<string, Json>();

  /** A reference to the component of a message or enum; builds it (and what it references) on first use. */
  ref(desc: DescMessage | DescEnum): Json {
    if (desc.kind === "message" && wellKnown[desc.typeName]) return wellKnown[desc.typeName]!();
    const name = componentName(desc);
    if (!this.#schemas.has(name)) {
      this.#schemas.set(name, {}); // placeholder: recursive messages refer to themselves
      this.#schemas.set(name, desc.kind === "enum" ? this.#enum(desc) : name === "google.protobuf.Any" ? anySchema : this.message(desc));
    }
    return refTo(name);
  }

  /** Adds or replaces a hand-written component. */
  define(name: string, schema: Json): Json {
    this.#schemas.set(name, schema);
    return refTo(name);
  }

  /** The component schemas built so far, sorted by name so the document is stable. */
  components(): Record<string, Json> {
    return Object.fromEntries([...this.#schemas].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /**
   * The object schema of a message: lowerCamelCase properties, `required`
   * from REQUIRED, readOnly for OUTPUT_ONLY, writeOnly for INPUT_ONLY.
   * `omit` leaves out fields by proto name (those bound to the URL path).
   */
  message(desc: DescMessage, omit: ReadonlySet<string> = new Set()): Json {
    const properties: Json = {};
    const required: string[] = [];
    for (const field of desc.fields) {
      if (omit.has(field.name)) continue;
      properties[field.jsonName] = this.field(field);
      if (behaviorsOf(field).has(FieldBehavior.REQUIRED)) required.push(field.jsonName);
    }
    const oneofs = desc.oneofs.filter((oneof) => oneof.fields.some((field) => !omit.has(field.name)));
    const schema: Json = { type: "object" };
    const description = join(
      commentOf(desc),
      ...oneofs.map((oneof) => `At most one of ${list(oneof.fields.map((f) => f.jsonName))} is set (oneof \`${oneof.name}\`).`),
    );
    if (description) schema["description"] = description;
    schema["properties"] = properties;
    if (required.length > 0) schema["required"] = required;
    if (oneofs.length > 0) schema["x-oneofs"] = Object.fromEntries(oneofs.map((oneof) => [oneof.name, oneof.fields.map((f) => f.jsonName)]));
    return schema;
  }

  /** The schema of one field, with its comment and field behaviour. */
  field(field: DescField): Json {
    const behaviors = behaviorsOf(field);
    const wkt = field.message && wellKnownNotes[field.message.typeName];
    const schema = this.value(field);
    const description = join(
      commentOf(field),
      field.fieldKind !== "list" && field.fieldKind !== "map" ? wkt : undefined,
      behaviors.has(FieldBehavior.IDENTIFIER) ? "Identifier: the resource name." : undefined,
      behaviors.has(FieldBehavior.IMMUTABLE) ? "Immutable: set on creation, never changed." : undefined,
      field.oneof ? `Member of oneof \`${field.oneof.name}\`: at most one of ${list(field.oneof.fields.map((f) => f.jsonName))} is set.` : undefined,
    );
    const annotated: Json = { ...schema };
    if (description) annotated["description"] = description;
    if (behaviors.has(FieldBehavior.OUTPUT_ONLY)) annotated["readOnly"] = true;
    if (behaviors.has(FieldBehavior.INPUT_ONLY)) annotated["writeOnly"] = true;
    if (field.deprecated) annotated["deprecated"] = true;
    return annotated;
  }

  /** The schema of a field's value alone, without its description. */
  value(field: DescField): Json {
    switch (field.fieldKind) {
      case "scalar":
        return scalarSchema(field.scalar);
      case "enum":
        return this.ref(field.enum);
      case "message":
        return this.ref(field.message);
      case "list":
        return {
          type: "array",
          items: field.listKind === "scalar" ? scalarSchema(field.scalar) : field.listKind === "enum" ? this.ref(field.enum) : this.ref(field.message),
        };
      case "map": {
        const values = field.mapKind === "scalar" ? scalarSchema(field.scalar) : field.mapKind === "enum" ? this.ref(field.enum) : this.ref(field.message);
        const schema: Json = { type: "object", additionalProperties: values };
        if (field.mapKey === ScalarType.BOOL) schema["propertyNames"] = { enum: ["true", "false"] };
        else if (field.mapKey !== ScalarType.STRING) schema["propertyNames"] = { pattern: "^-?[0-9]+$" };
        return schema;
      }
    }
  }

  /** Enums are their value names in JSON; the description lists what each means. */
  #enum(desc: DescEnum): Json {
    const values = desc.values.map((value) => {
      const comment = commentOf(value).replace(/\s+/g, " ");
      if (comment.startsWith(`${value.name} `)) return `- \`${value.name}\`${comment.slice(value.name.length)}`;
      return comment ? `- \`${value.name}\`: ${comment}` : `- \`${value.name}\``;
    });
    return {
      type: "string",
      description: join(commentOf(desc), values.join("\n")),
      enum: desc.values.map((value) => value.name),
    };
  }
}
