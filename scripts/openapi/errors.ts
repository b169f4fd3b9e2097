import type { DescMessage, FileRegistry } from "@bufbuild/protobuf";
import type { Code } from "@connectrpc/connect";
import { CodeSchema } from "../../gen/google/rpc/code_pb.js";
import { httpStatusOf } from "../../edge/rest/errors.js";
import { restRefusalReasons } from "../../edge/rest/refusals.js";
import { refTo, type Json, type SchemaBuilder } from "./schemas.js";

/** Reusable error responses under #/components/responses, by HTTP status. */
const errorResponses: Record<string, { name: string; description: string }> = {
  "400": {
    name: "BadRequest",
    description: [
      "INVALID_ARGUMENT (malformed JSON, a missing required field, a bad value: `details` holds a `google.rpc.BadRequest` with field violations), FAILED_PRECONDITION or OUT_OF_RANGE (`details` holds a `google.rpc.ErrorInfo` whose `reason` says which rule).",
      `A request that maps onto no request message is refused by the edge itself, as INVALID_ARGUMENT whose \`ErrorInfo\` \`reason\` says why: ${Object.entries(restRefusalReasons)
        .map(([reason, meaning]) => `\`${reason}\`, ${meaning}`)
        .join("; ")}.`,
    ].join(" "),
  },
  "401": { name: "Unauthenticated", description: "UNAUTHENTICATED: no credentials, or an expired, revoked or unknown token or API key." },
  "403": { name: "PermissionDenied", description: "PERMISSION_DENIED: the caller's role does not grant the method's permission." },
  "404": { name: "NotFound", description: "NOT_FOUND: the resource does not exist." },
  "409": { name: "Conflict", description: "ABORTED (a stale etag, or a conflicting operation in progress) or ALREADY_EXISTS." },
  "429": { name: "TooManyRequests", description: "RESOURCE_EXHAUSTED: a rate limit or quota. `Retry-After` says when to try again." },
  "499": { name: "Cancelled", description: "CANCELLED: the client went away." },
  "500": { name: "Internal", description: "INTERNAL, UNKNOWN or DATA_LOSS: a server error; nothing internal is disclosed." },
  "501": { name: "Unimplemented", description: "UNIMPLEMENTED: the method is not available here." },
  "503": { name: "Unavailable", description: "UNAVAILABLE: the service cannot be reached; retry with backoff." },
  "504": { name: "DeadlineExceeded", description: "DEADLINE_EXCEEDED: the call ran out of time." },
};

const statusRef = refTo("google.rpc.Status");

/** A $ref to the shared error response of an HTTP status ("default" for any other). */
export function errorResponseRef(status: string): Json {
  const name = status === "default" ? "Error" : errorResponses[status]?.name;
  if (!name) throw new Error(`no error response for HTTP ${status}`);
  return { $ref: `#/components/responses/${name}` };
}

/**
 * The HTTP statuses of the gRPC code names a comment mentions (an RPC comment
 * says what it refuses), as the REST router answers them (grpc-gateway's
 * table). CANCELLED is left out: in these comments it is a deployment state,
 * and a client that cancels knows it did.
 */
export function statusesMentioned(comment: string): number[] {
  return (comment.match(/\b[A-Z][A-Z_]+[A-Z]\b/g) ?? []).flatMap((word) => {
    const code = word === "CANCELLED" ? undefined : CodeSchema.values.find((value) => value.name === word);
    // Connect's Code is google.rpc.Code: the same numbers.
    return code ? [httpStatusOf(code.number as Code)] : [];
  });
}

/** #/components/responses: one google.rpc.Status response per HTTP status, and `Error` for the rest. */
export function errorComponents(): Record<string, Json> {
  const content = { "application/json": { schema: statusRef } };
  const responses: Record<string, Json> = {};
  for (const [status, { name, description }] of Object.entries(errorResponses)) {
    responses[name] = { description: `HTTP ${status}. ${description}`, content };
    if (status === "429") {
      responses[name]!["headers"] = {
        "Retry-After": { description: "Seconds to wait before retrying.", schema: { type: "integer", minimum: 0 } },
      };
    }
  }
  responses["Error"] = { description: "Any other error, as a google.rpc.Status with the HTTP status of its code.", content };
  return responses;
}

/**
 * google.rpc.Status, the body of every error, with `details` spelled out as
 * the detail messages Launchpad sends (ErrorInfo with a stable reason,
 * BadRequest with field violations), each tagged with its `@type`.
 */
export function defineStatusSchema(schemas: SchemaBuilder, registry: FileRegistry): void {
  const message = (name: string): DescMessage => {
    const desc = registry.getMessage(name);
    if (!desc) throw new Error(`${name} is not in the descriptor set`);
    return desc;
  };
  const known = ["google.rpc.ErrorInfo", "google.rpc.BadRequest"];
  const detail = (name: string): Json => ({
    title: name.split(".").pop(),
    allOf: [
      schemas.ref(message(name)),
      { type: "object", properties: { "@type": { const: `type.googleapis.com/${name}` } }, required: ["@type"] },
    ],
  });
  const other: Json = {
    title: "Any",
    allOf: [
      schemas.ref(message("google.protobuf.Any")),
      { type: "object", properties: { "@type": { not: { enum: known.map((name) => `type.googleapis.com/${name}`) } } } },
    ],
  };
  const status = schemas.message(message("google.rpc.Status"));
  const properties = status["properties"] as Record<string, Json>;
  properties["details"] = {
    ...properties["details"],
    items: { anyOf: [...known.map(detail), other] },
  };
  schemas.define("google.rpc.Status", status);
}
