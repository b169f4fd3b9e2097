/**
 * Benchmark child: a bare @grpc/grpc-js server with one handler for
 * UserService/GetUser that decodes the request and answers with the same
 * GetUserResponse message (BENCH_RESPONSE_BASE64), encoded per call, as any
 * grpc-js server does. No middleware, no database: the floor that the full
 * chain is compared with.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import {
  GetUserRequestSchema,
  GetUserResponseSchema,
  type GetUserRequest,
  type GetUserResponse,
} from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { runAsChild } from "../support/child-main.js";

/** What the bare child reports when it is ready. */
export interface BareReady {
  port: number;
}

await runAsChild<BareReady>(async () => {
  const response = fromBinary(GetUserResponseSchema, Buffer.from(process.env.BENCH_RESPONSE_BASE64 ?? "", "base64"));
  const server = new Server();
  server.addService(
    {
      GetUser: {
        path: "/launchpad.user.v1.UserService/GetUser",
        requestStream: false,
        responseStream: false,
        requestSerialize: (request: GetUserRequest) => Buffer.from(toBinary(GetUserRequestSchema, request)),
        requestDeserialize: (bytes: Buffer) => fromBinary(GetUserRequestSchema, bytes),
        responseSerialize: (message: GetUserResponse) => Buffer.from(toBinary(GetUserResponseSchema, message)),
        responseDeserialize: (bytes: Buffer) => fromBinary(GetUserResponseSchema, bytes),
      },
    },
    {
      GetUser: (_call: ServerUnaryCall<GetUserRequest, GetUserResponse>, callback: sendUnaryData<GetUserResponse>) =>
        callback(null, response),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const stop = () => new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  return { ready: { port }, stop };
});
