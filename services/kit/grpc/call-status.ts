import { isAbortError } from "abort-controller-x";
import { ServerError, Status } from "nice-grpc-common";

/**
 * The status a call ends with when its handler threw `error`, as nice-grpc
 * will report it: ServerErrors keep their code, aborts are CANCELLED and
 * anything else is UNKNOWN (the error-mapping middleware turns those into
 * INTERNAL before this is ever asked).
 */
export function statusOf(error: unknown): Status {
  if (error instanceof ServerError) return error.code;
  if (isAbortError(error)) return Status.CANCELLED;
  return Status.UNKNOWN;
}
