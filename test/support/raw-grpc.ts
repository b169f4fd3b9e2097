import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import type { Status } from "nice-grpc";
import type { CallFailure } from "./grpc-errors.js";

const identity = (bytes: Buffer) => bytes;

/**
 * Sends hand-made request bytes to a unary method with a bare grpc-js
 * client (identity serializers, so nothing re-encodes or checks them), and
 * returns the response bytes, or what the failure carried.
 */
export function rawUnaryCall(
  address: string,
  path: string,
  body: Uint8Array,
  headers: Record<string, string> = {},
): Promise<{ response: Buffer } | CallFailure> {
  const client = new Client(address, credentials.createInsecure());
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, Buffer.from(body), metadata, (error: ServiceError | null, response?: Buffer) => {
      client.close();
      resolve(error ? failureOfStatus(error) : { response: response! });
    });
  });
}

function failureOfStatus(error: ServiceError): CallFailure {
  const [bin] = error.metadata.get("grpc-status-details-bin");
  const status = bin instanceof Buffer ? fromBinary(StatusSchema, bin) : undefined;
  const details = status?.details ?? [];
  const info = details.map((d) => anyUnpack(d, ErrorInfoSchema)).find((d) => d !== undefined);
  const badRequest = details.map((d) => anyUnpack(d, BadRequestSchema)).find((d) => d !== undefined);
  return {
    code: error.code as number as Status,
    message: error.details,
    reason: info?.reason,
    metadata: info?.metadata ?? {},
    fields: badRequest?.fieldViolations.map((v) => v.field) ?? [],
  };
}
