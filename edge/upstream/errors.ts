import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ServiceError } from "@grpc/grpc-js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";

const typePrefix = "type.googleapis.com/";

/**
 * An upstream gRPC failure as a clean Connect error: the same code and
 * message, and the google.rpc details from grpc-status-details-bin, but none
 * of the upstream's headers or trailers.
 */
export function toConnectError(error: ServiceError): ConnectError {
  const code: Code = error.code in Code ? (error.code as number) : Code.Unknown;
  const [raw] = error.metadata?.get("grpc-status-details-bin") ?? [];
  let details: { type: string; value: Uint8Array }[] = [];
  if (raw instanceof Uint8Array) {
    try {
      details = fromBinary(StatusSchema, raw).details.map((any) => ({
        type: any.typeUrl.startsWith(typePrefix) ? any.typeUrl.slice(typePrefix.length) : any.typeUrl,
        value: any.value,
      }));
    } catch {
      details = [];
    }
  }
  const connectError = new ConnectError(error.details || Code[code], code);
  connectError.details.push(...details);
  return connectError;
}

/** UNAVAILABLE for an upstream that cannot be reached. */
export function unavailable(service: string): ConnectError {
  return new ConnectError(`${service} is unavailable; retry`, Code.Unavailable);
}
