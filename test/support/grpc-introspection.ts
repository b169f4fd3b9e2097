import { create, createFileRegistry, fromBinary, toBinary, type FileRegistry, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  type HealthCheckResponse_ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";

/** A ServerReflectionRequest: the same bytes in grpc.reflection.v1 and v1alpha. */
export type ReflectionRequestInit = MessageInitShape<typeof ServerReflectionRequestSchema>;

/**
 * Sends every request on one grpc-js ServerReflectionInfo stream of the
 * given version, as grpcurl does, and returns the responses in order.
 */
export async function reflectOverGrpc(address: string, version: "v1" | "v1alpha", requests: ReflectionRequestInit[]): Promise<ServerReflectionResponse[]> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) => {
      const received: ServerReflectionResponse[] = [];
      const call = client.makeBidiStreamRequest(
        `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
        (request: ReflectionRequestInit) => Buffer.from(toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, request))),
        (bytes: Buffer) => fromBinary(ServerReflectionResponseSchema, bytes),
      );
      call.on("data", (response: ServerReflectionResponse) => received.push(response));
      call.on("error", reject);
      call.on("status", (status: grpc.StatusObject) => status.code === grpc.status.OK && resolve(received));
      for (const request of requests) call.write(request);
      call.end();
    });
  } finally {
    client.close();
  }
}

/** The service names a list_services answer holds. */
export function listedServices(response: ServerReflectionResponse): string[] {
  if (response.messageResponse.case !== "listServicesResponse") throw new Error(`not a service list: ${response.messageResponse.case}`);
  return response.messageResponse.value.service.map((service) => service.name);
}

/** The files a file_descriptor_response holds, decoded, in order. */
export function answeredFileDescriptors(response: ServerReflectionResponse): FileDescriptorProto[] {
  if (response.messageResponse.case !== "fileDescriptorResponse") throw new Error(`not files: ${response.messageResponse.case}`);
  return response.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}

/** The names of the files a file_descriptor_response holds, in order, and a registry built from them alone. */
export function answeredFiles(response: ServerReflectionResponse): { names: string[]; registry: FileRegistry } {
  const files = answeredFileDescriptors(response);
  const byName = new Map(files.map((file) => [file.name, file]));
  // Imports before their importers, as createFileRegistry wants a set; a missing import throws there.
  const ordered = new Set<FileDescriptorProto>();
  const visit = (file: FileDescriptorProto | undefined) => {
    if (!file || ordered.has(file)) return;
    file.dependency.forEach((name) => visit(byName.get(name)));
    ordered.add(file);
  };
  files.forEach(visit);
  return { names: files.map((file) => file.name), registry: createFileRegistry(create(FileDescriptorSetSchema, { file: [...ordered] })) };
}

/** grpc.health.v1.Health/Check over grpc-js: the status answered, or the gRPC code of the error. */
export async function checkHealthOverGrpc(address: string, service: string): Promise<{ status: HealthCheckResponse_ServingStatus } | { code: grpc.status }> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve) => {
      client.makeUnaryRequest(
        "/grpc.health.v1.Health/Check",
        (request: string) => Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: request }))),
        (bytes: Buffer) => fromBinary(HealthCheckResponseSchema, bytes),
        service,
        (error, response) => resolve(error ? { code: error.code } : { status: response!.status }),
      );
    });
  } finally {
    client.close();
  }
}
