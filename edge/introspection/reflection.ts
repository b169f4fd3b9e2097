import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { ReflectionAnswer, ReflectionQuestion } from "./reflection-answers.js";

/**
 * Registers grpc.reflection.v1 and, for older clients such as many grpcurl
 * builds, v1alpha: the messages are wire-identical, so one `answer` serves
 * both. `readMaxBytes` bounds each request message.
 */
export function serveReflection(router: ConnectRouter, answer: (question: ReflectionQuestion) => ReflectionAnswer, readMaxBytes: number): void {
  /** The response to one request: the request echoed, as the protocol asks, and its answer. */
  const respond = <Request extends { host: string; messageRequest: ReflectionQuestion }>(request: Request) => ({
    validHost: request.host,
    originalRequest: request,
    messageResponse: answer(request.messageRequest),
  });
  router.service(
    v1.ServerReflection,
    { serverReflectionInfo: (requests) => mapEach(requests, (request) => create(v1.ServerReflectionResponseSchema, respond(request))) },
    { readMaxBytes },
  );
  router.service(
    v1alpha.ServerReflection,
    { serverReflectionInfo: (requests) => mapEach(requests, (request) => create(v1alpha.ServerReflectionResponseSchema, respond(request))) },
    { readMaxBytes },
  );
}

/** One response per request, in order. */
async function* mapEach<In, Out>(requests: AsyncIterable<In>, respond: (request: In) => Out): AsyncIterable<Out> {
  for await (const request of requests) yield respond(request);
}
