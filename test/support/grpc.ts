import * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallContext, ServerMiddleware, ServerMiddlewareCall } from "nice-grpc-common";
import {
  ClientError,
  ServerError,
  Status,
  createChannel,
  createClientFactory,
  type Channel,
  type Metadata,
  type Server,
  type ServiceImplementation,
} from "nice-grpc";
import {
  BadRequest,
  ErrorInfo,
  RetryInfo,
  RichClientError,
  errorDetailsClientMiddleware,
  type ErrorDetails,
} from "nice-grpc-error-details";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  type BadRequest_FieldViolation,
} from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema, type Status as RpcStatus } from "../../gen/google/rpc/status_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { toNiceService, type NiceServiceDefinition } from "../../services/kit/grpc/service-definition.js";
import { createLogger, type Logger } from "../../services/kit/logger.js";
import type { RequestContext, RequestContextExt } from "../../services/kit/middleware/request-context.js";

/** A server listening on 127.0.0.1 and a channel to it. */
export interface Served {
  /** "127.0.0.1:port". */
  address: string;
  channel: Channel;
  /** Closes the channel and stops the server at once. */
  close(): Promise<void>;
}

/** Starts a nice-grpc server on 127.0.0.1:0 and opens a channel to it. */
export async function serve(server: Pick<Server<any>, "listen" | "forceShutdown">): Promise<Served> {
  const port = await server.listen("127.0.0.1:0");
  const address = `127.0.0.1:${port}`;
  const channel = createChannel(address);
  return {
    address,
    channel,
    async close() {
      channel.close();
      server.forceShutdown();
    },
  };
}

/** launchpad.user.v1.UserService as nice-grpc sees it. */
export const userDefinition = toNiceService(UserService);

/** The methods of a protobuf-es generated service type (`MethodsOf<typeof UserService>`). */
export type MethodsOf<T> = T extends GenService<infer S> ? S : never;

/** An implementation of a protobuf-es service whose unlisted methods answer UNIMPLEMENTED. */
export function stubHandlers<S extends GenServiceMethods, Ext = {}>(
  service: GenService<S>,
  handlers: Partial<ServiceImplementation<NiceServiceDefinition<S>, Ext>>,
): ServiceImplementation<NiceServiceDefinition<S>, Ext> {
  const all: Record<string, unknown> = {};
  for (const method of service.methods) {
    all[method.localName] = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming"
      ? async function* () { throw new ServerError(Status.UNIMPLEMENTED, "stub"); }
      : async () => { throw new ServerError(Status.UNIMPLEMENTED, "stub"); };
  }
  return { ...all, ...handlers } as ServiceImplementation<NiceServiceDefinition<S>, Ext>;
}

/** A UserService implementation whose unlisted methods answer UNIMPLEMENTED. */
export function userHandlers<Ext = {}>(
  handlers: Partial<ServiceImplementation<typeof userDefinition, Ext>>,
): ServiceImplementation<typeof userDefinition, Ext> {
  return stubHandlers<MethodsOf<typeof UserService>, Ext>(UserService, handlers);
}

/** A UserService client that decodes google.rpc error details (RichClientError). */
export function userClient(channel: Channel) {
  return createClientFactory().use(errorDetailsClientMiddleware).create(userDefinition, channel);
}

/** JSON log lines written by a logger. */
export interface CapturedLogs {
  logger: Logger;
  lines: Array<Record<string, any>>;
  /** Every line as written, for checks on raw text. */
  text(): string;
}

/** A kit logger (createLogger) whose lines are kept in memory. */
export function captureLogs(level = "info"): CapturedLogs {
  const raw: string[] = [];
  const logger = createLogger("test", level, { write: (line: string) => void raw.push(line.trimEnd()) });
  return {
    logger,
    get lines() {
      return raw.map((line) => JSON.parse(line) as Record<string, any>);
    },
    text: () => raw.join("\n"),
  };
}

/**
 * Stands in for the request-context middleware: gives each call a fixed
 * request context, logging to `logger`.
 */
export function stubRequestContext(logger: Logger = captureLogs().logger): ServerMiddleware<RequestContextExt> {
  return async function* stubRequest<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, RequestContextExt>,
    context: CallContext,
  ) {
    const request: RequestContext = { requestId: "req-1", traceId: "0".repeat(31) + "1", spanId: "0".repeat(15) + "1", log: logger };
    return yield* call.next(call.request, { ...context, request });
  };
}

/** The error a call failed with; throws if it succeeded or failed with something else. */
export async function callError(call: Promise<unknown>): Promise<ClientError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ClientError) return error;
    throw error;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** Every google.rpc detail a failed call carries, as nice-grpc-error-details decodes them. */
export function errorDetails(error: ClientError): ErrorDetails[] {
  return error instanceof RichClientError ? error.extra : [];
}

/** The google.rpc.ErrorInfo of a failed call, if it carries one. */
export function errorInfo(error: ClientError): ErrorInfo | undefined {
  return errorDetails(error).find((d): d is ErrorInfo => d.$type === ErrorInfo.$type);
}

/** The google.rpc.BadRequest of a failed call, if it carries one. */
export function badRequest(error: ClientError): BadRequest | undefined {
  return errorDetails(error).find((d): d is BadRequest => d.$type === BadRequest.$type);
}

/** The google.rpc.RetryInfo of a failed call, if it carries one. */
export function retryInfo(error: ClientError): RetryInfo | undefined {
  return errorDetails(error).find((d): d is RetryInfo => d.$type === RetryInfo.$type);
}

/**
 * The google.rpc.Status a call's trailer carries (grpc-status-details-bin),
 * decoded with the current google.rpc protos rather than nice-grpc-error-details'
 * older copy, so fields added since (FieldViolation.reason) are visible.
 */
export function wireStatus(trailer: Metadata | undefined): RpcStatus | undefined {
  const bytes = trailer?.get("grpc-status-details-bin");
  return bytes === undefined ? undefined : fromBinary(StatusSchema, bytes);
}

/** The BadRequest field violations of a google.rpc.Status, as sent. */
export function wireViolations(status: RpcStatus | undefined): BadRequest_FieldViolation[] {
  return (status?.details ?? []).flatMap((any) => anyUnpack(any, BadRequestSchema)?.fieldViolations ?? []);
}

/** How a raw call ended: its status code, message and google.rpc.Status details. */
export interface RawOutcome {
  code: number;
  details: string;
  status: RpcStatus | undefined;
  response: Buffer | undefined;
}

/**
 * Sends raw request bytes to a unary method with a plain grpc-js client,
 * bypassing any serializer, for requests no well-behaved client would send.
 */
export async function rawUnaryCall(address: string, path: string, request: Uint8Array): Promise<RawOutcome> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<RawOutcome>((resolve) => {
      client.makeUnaryRequest(
        path,
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        Buffer.from(request),
        (error, response) => {
          if (!error) return resolve({ code: grpc.status.OK, details: "", status: undefined, response });
          const bytes = error.metadata?.get("grpc-status-details-bin")[0];
          resolve({
            code: error.code,
            details: error.details,
            status: bytes instanceof Buffer ? fromBinary(StatusSchema, bytes) : undefined,
            response: undefined,
          });
        },
      );
    });
  } finally {
    client.close();
  }
}

/** The ErrorInfo reason of a google.rpc.Status, as sent. */
export function wireReason(status: RpcStatus | undefined): string | undefined {
  for (const any of status?.details ?? []) {
    const info = anyUnpack(any, ErrorInfoSchema);
    if (info) return info.reason;
  }
  return undefined;
}
