import { Code } from "@connectrpc/connect";
import { Rejection } from "../protections/rejections.js";

/**
 * Why the edge refuses a REST request before any service sees it, and what
 * each reason means: the ErrorInfo reasons clients branch on, part of the
 * API, and listed as they are here in the OpenAPI document.
 */
export const restRefusalReasons = {
  UNKNOWN_QUERY_PARAMETER: "a query parameter that is no field of the request",
  INVALID_QUERY_PARAMETER:
    "a query parameter whose value does not parse (`pageSize=many`), given twice for a singular field, naming a message that has no text form, or setting a field the path or the body sets",
  INVALID_PATH_VARIABLE: "a path segment that does not parse as the field it sets",
  MALFORMED_REQUEST: "a body that is not JSON (the reason every protocol gives a body it cannot decode)",
  UNKNOWN_BODY_FIELD: "a body key that is no field of its message",
  INVALID_BODY: "a body field of the wrong type or with a bad value",
  INVALID_HEADER: "a malformed `Grpc-Timeout`, `Connect-Timeout-Ms`, `X-Timeout-Ms` or `Last-Event-ID` header",
} as const;

/** One of restRefusalReasons. */
export type RestRefusalReason = keyof typeof restRefusalReasons;

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
