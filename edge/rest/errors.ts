import { create, createRegistry, fromBinary, toBinary, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { file_google_rpc_error_details, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

const typePrefix = "type.googleapis.com/";
const detailTypes = createRegistry(file_google_rpc_error_details);

/** HTTP status per gRPC code: grpc-gateway's table (runtime.HTTPStatusFromCode). */
const httpStatusByCode: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/** The HTTP status of a gRPC code (OK is 200). */
export function httpStatusOf(code: Code | 0): number {
  return code === 0 ? 200 : (httpStatusByCode[code] ?? 500);
}

/** Any error as a ConnectError; anything that is not one becomes INTERNAL, its message kept out of the response. */
export function asConnectError(error: unknown): ConnectError {
  return error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
}

/** One detail as raw bytes with its type name, whichever way the error carried it. */
function rawDetails(error: ConnectError): { type: string; value: Uint8Array }[] {
  return error.details.map((detail) =>
    "desc" in detail
      ? { type: detail.desc.typeName, value: toBinary(detail.desc, create(detail.desc, detail.value)) }
      : { type: detail.type, value: detail.value },
  );
}

/**
 * The google.rpc.Status of an error in proto3 JSON, as grpc-gateway writes
 * it: `{code, message, details: [{"@type": "type.googleapis.com/...", ...}]}`.
 * Known detail types (ErrorInfo, BadRequest, RetryInfo and the rest of
 * google/rpc/error_details.proto) are decoded into their fields; others keep
 * their bytes as base64 in `value`.
 */
export function statusJson(error: ConnectError): JsonObject {
  const details: JsonValue[] = rawDetails(error).map(({ type, value }) => {
    const any = create(AnySchema, { typeUrl: typePrefix + type, value });
    try {
      return toJson(AnySchema, any, { registry: detailTypes });
    } catch {
      return { "@type": any.typeUrl, value: base64Encode(value) };
    }
  });
  return { code: error.code, message: error.rawMessage, details };
}

/** Whole seconds to wait, from a RetryInfo detail, if the error carries one. */
export function retryAfterSeconds(error: ConnectError): number | undefined {
  const raw = rawDetails(error).find((d) => d.type === RetryInfoSchema.typeName);
  if (!raw) return undefined;
  const delay = fromBinary(RetryInfoSchema, raw.value).retryDelay;
  if (!delay) return undefined;
  return Math.max(0, Math.ceil(Number(delay.seconds) + delay.nanos / 1e9));
}
