import { toJson, type Message, type DescField, type DescMessage, type DescMethod, type JsonValue } from "@bufbuild/protobuf";

/**
 * How responses are written: proto3 JSON with lowerCamelCase field names,
 * enums by name, 64-bit integers as strings, Timestamps as RFC 3339, and
 * every field with implicit presence emitted even at its zero value ("", 0,
 * false, [], {}, the enum's zero name) — what grpc-gateway's default
 * marshaler does (EmitUnpopulated), so `jq .deployment.progressPercent` is 0
 * rather than null and a response always has the same keys. Message fields
 * and `optional` fields that are unset are left out (protojson would write
 * null).
 */
export const restJsonWriteOptions = { alwaysEmitImplicit: true, enumAsInteger: false, useProtoFieldName: false } as const;

/**
 * The success status of a method: 201 Created for a POST to a method named
 * Create* (AIP-133 standard create), 200 OK for everything else, including
 * custom methods that happen to create something (:rollback).
 */
export function successStatus(method: DescMethod, httpMethod: string): number {
  return httpMethod === "POST" && method.name.startsWith("Create") ? 201 : 200;
}

/** Finds the top-level response field a rule's `response_body` names; throws when it does not exist. */
export function compileResponseBody(output: DescMessage, responseBody: string): DescField | undefined {
  if (responseBody === "") return undefined;
  const field = output.fields.find((f) => f.name === responseBody);
  if (!field) throw new Error(`http rule response_body "${responseBody}" is not a field of ${output.typeName}`);
  return field;
}

/** A response message as the JSON the HTTP body carries (only `responseBody` when the rule names one). */
export function responseJson(output: DescMessage, responseBody: DescField | undefined, message: Message): JsonValue {
  const json = toJson(output, message, restJsonWriteOptions);
  if (!responseBody) return json;
  return (json as Record<string, JsonValue>)[responseBody.jsonName] ?? null;
}
