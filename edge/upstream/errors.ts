import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";

const typePrefix = "type.googleapis.com/";

/**
 * An upstream gRPC status as a clean Connect error: the same code and
 * message, and the google.rpc details from grpc-status-details-bin, but none
 * of the upstream's headers or trailers.
 */
export function connectErrorOf(code: number, message: string, detailsBin: string | undefined): ConnectError {
  const known: Code = code in Code ? code : Code.Unknown;
  const error = new ConnectError(message || Code[known], known);
  if (detailsBin) {
    try {
      for (const any of fromBinary(StatusSchema, Buffer.from(detailsBin, "base64")).details) {
        error.details.push({ type: any.typeUrl.startsWith(typePrefix) ? any.typeUrl.slice(typePrefix.length) : any.typeUrl, value: any.value });
      }
    } catch {
      // Undecodable details are dropped, the status stays.
    }
  }
  return error;
}

/** UNAVAILABLE for an upstream that cannot be reached or went away mid-call. */
export function unavailable(): ConnectError {
  return new ConnectError("the service is unavailable; retry", Code.Unavailable);
}
