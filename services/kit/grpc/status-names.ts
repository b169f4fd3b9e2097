import { Status } from "nice-grpc-common";

/** gRPC codes as grpc-go's String() spells them, the spelling go-grpc-prometheus labels use. */
const goNames: Record<Status, string> = {
  [Status.OK]: "OK",
  [Status.CANCELLED]: "Canceled",
  [Status.UNKNOWN]: "Unknown",
  [Status.INVALID_ARGUMENT]: "InvalidArgument",
  [Status.DEADLINE_EXCEEDED]: "DeadlineExceeded",
  [Status.NOT_FOUND]: "NotFound",
  [Status.ALREADY_EXISTS]: "AlreadyExists",
  [Status.PERMISSION_DENIED]: "PermissionDenied",
  [Status.RESOURCE_EXHAUSTED]: "ResourceExhausted",
  [Status.FAILED_PRECONDITION]: "FailedPrecondition",
  [Status.ABORTED]: "Aborted",
  [Status.OUT_OF_RANGE]: "OutOfRange",
  [Status.UNIMPLEMENTED]: "Unimplemented",
  [Status.INTERNAL]: "Internal",
  [Status.UNAVAILABLE]: "Unavailable",
  [Status.DATA_LOSS]: "DataLoss",
  [Status.UNAUTHENTICATED]: "Unauthenticated",
};

/** The grpc-go name of a code, for example "InvalidArgument". */
export function goStatusName(code: Status): string {
  return goNames[code] ?? "Unknown";
}
