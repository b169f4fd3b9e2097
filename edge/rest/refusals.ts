import { Code } from "@connectrpc/connect";
import { Rejection } from "../protections/rejections.js";

/**
 * Why the edge refuses a REST request before any service sees it: the
 * ErrorInfo reasons clients branch on, part of the API.
 * - UNKNOWN_QUERY_PARAMETER: a query key that is no field of the request;
 * - INVALID_QUERY_PARAMETER: a known key with a value that does not parse
 *   (`page_size=many`), given twice for a singular field, naming a message
 *   with no text form, or naming a field the path or the body sets;
 * - INVALID_PATH_VARIABLE: a path segment that does not parse as its field;
 * - BODY_NOT_JSON: a body that does not parse as JSON;
 * - UNKNOWN_BODY_FIELD: a JSON key that is no field of its message;
 * - INVALID_BODY: a body field of the wrong type or with a bad value;
 * - INVALID_HEADER: a malformed timeout or Last-Event-ID header.
 */
export type RestRefusalReason =
  | "UNKNOWN_QUERY_PARAMETER"
  | "INVALID_QUERY_PARAMETER"
  | "INVALID_PATH_VARIABLE"
  | "BODY_NOT_JSON"
  | "UNKNOWN_BODY_FIELD"
  | "INVALID_BODY"
  | "INVALID_HEADER";

/** 400 INVALID_ARGUMENT with an ErrorInfo of `reason` and a BadRequest violation naming the parameter, header or "body" at fault. */
export function restRefusal(reason: RestRefusalReason, field: string, description: string): Rejection {
  return new Rejection({ code: Code.InvalidArgument, reason, message: description, violations: [{ field, description }] });
}

/** 405 with an ErrorInfo METHOD_NOT_ALLOWED: the path is served, under other HTTP methods. */
export function methodNotAllowed(httpMethod: string, rawPath: string, allowed: readonly string[]): Rejection {
  return new Rejection({
    code: Code.Unimplemented,
    reason: "METHOD_NOT_ALLOWED",
    message: `${httpMethod} is not allowed on ${rawPath}; allowed: ${allowed.join(", ")}`,
    httpStatus: 405,
  });
}
