import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { ReflectionAnswerer, ReflectionQuestion } from "./reflection-answers.js";

/**
 * Registers grpc.reflection.v1 and, for older clients such as many grpcurl
 * builds, v1alpha: the messages are wire-identical, so one answerer per
 * stream (from `answerStream`) serves both. `readMaxBytes` bounds each
 * request message.
 */
export function serveReflection(router: ConnectRouter, answerStream: () => ReflectionAnswerer, readMaxBytes: number): void {
  router.service(
    v1.ServerReflection,
    { serverReflectionInfo: (requests) => respondEach(requests, answerStream(), (response) => create(v1.ServerReflectionResponseSchema, response)) },
    { readMaxBytes },
  );
  router.service(
    v1alpha.ServerReflection,
    { serverReflectionInfo: (requests) => respondEach(requests, answerStream(), (response) => create(v1alpha.ServerReflectionResponseSchema, response)) },
    { readMaxBytes },
  );
}

/** One response per request, in order: the request echoed, as the protocol asks, and its answer. */
async function* respondEach<Request extends { host: string; messageRequest: ReflectionQuestion }, Response>(
  requests: AsyncIterable<Request>,
  answer: ReflectionAnswerer,
  toResponse: (init: { validHost: string; originalRequest: Request; messageResponse: ReturnType<ReflectionAnswerer> }) => Response,
): AsyncIterable<Response> {
  for await (const request of requests) {
    yield toResponse({ validHost: request.host, originalRequest: request, messageResponse: answer(request.messageRequest) });
  }
}
