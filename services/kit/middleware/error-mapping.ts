import { isAbortError } from "abort-controller-x";
import type { CallContext, ServerMiddleware, ServerMiddlewareCall } from "nice-grpc-common";
import { ServerError, Status } from "nice-grpc-common";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  Any,
  ErrorInfo,
  RetryInfo,
  RichServerError,
  errorDetailsServerMiddleware,
  type ErrorDetails,
} from "nice-grpc-error-details";
import { BadRequestSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { DomainError, errorDomain, type ErrorKind } from "../errors.js";
import type { RequestContextExt } from "./request-context.js";

const codes: Record<ErrorKind, Status> = {
  "invalid-argument": Status.INVALID_ARGUMENT,
  "not-found": Status.NOT_FOUND,
  "already-exists": Status.ALREADY_EXISTS,
  "permission-denied": Status.PERMISSION_DENIED,
  unauthenticated: Status.UNAUTHENTICATED,
  "failed-precondition": Status.FAILED_PRECONDITION,
  aborted: Status.ABORTED,
  "resource-exhausted": Status.RESOURCE_EXHAUSTED,
  unavailable: Status.UNAVAILABLE,
};

/** The gRPC status, with google.rpc details, that a domain error is sent as. */
export function toServerError(error: DomainError): RichServerError {
  const details: ErrorDetails[] = [
    ErrorInfo.fromPartial({ reason: error.reason, domain: errorDomain, metadata: error.metadata }),
  ];
  if (error.violations.length > 0) {
    // nice-grpc-error-details' BadRequest predates FieldViolation.reason; the generated one carries it.
    const badRequest = create(BadRequestSchema, { fieldViolations: error.violations });
    details.push(Any.fromPartial({ typeUrl: `type.googleapis.com/${BadRequestSchema.typeName}`, value: toBinary(BadRequestSchema, badRequest) }));
  }
  if (error.retryAfterSeconds !== undefined) {
    details.push(RetryInfo.fromPartial({ retryDelay: { seconds: error.retryAfterSeconds, nanos: 0 } }));
  }
  return new RichServerError(codes[error.kind], error.message, details);
}

/**
 * Turns what handlers throw into statuses. Domain errors keep their code,
 * reason and details; anything unexpected is logged with its stack and sent
 * as a bare INTERNAL, so no stack trace or SQL ever reaches the wire.
 */
export function createErrorMappingMiddleware(): ServerMiddleware<{}, RequestContextExt> {
  return async function* mapErrors<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext & RequestContextExt,
  ) {
    try {
      return yield* call.next(call.request, context);
    } catch (error) {
      const sent = sentError(error, call.method.path, context);
      // nice-grpc-error-details puts a RichServerError's details in the trailer
      // as it passes through. It runs only here, once the call has failed, so a
      // stream keeps one frame for error mapping instead of two.
      return yield* errorDetailsServerMiddleware<Request, Response>({ ...call, next: () => failWith(sent) }, context);
    }
  };
}

/** The error a failure is sent as. */
function sentError(error: unknown, method: string, context: RequestContextExt): unknown {
  if (error instanceof DomainError) return toServerError(error);
  if (error instanceof ServerError || isAbortError(error)) return error;
  context.request.log.error({ err: error, method }, "unexpected error");
  return new RichServerError(Status.INTERNAL, "internal error", [ErrorInfo.fromPartial({ reason: "INTERNAL", domain: errorDomain })]);
}

// eslint-disable-next-line require-yield
async function* failWith(error: unknown): AsyncGenerator<never, never, undefined> {
  throw error;
}
