import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import type { MethodDefinition } from "nice-grpc";

type IsStreaming<Kind, Streaming extends string> = Kind extends Streaming ? true : false;

/** The nice-grpc method definition of one protobuf-es method. */
export type NiceMethodDefinition<M> = M extends {
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
  methodKind: infer K;
}
  ? MethodDefinition<
      MessageInitShape<I>,
      MessageShape<I>,
      MessageInitShape<O>,
      MessageShape<O>,
      IsStreaming<K, "client_streaming" | "bidi_streaming">,
      IsStreaming<K, "server_streaming" | "bidi_streaming">
    >
  : never;

/** The nice-grpc service definition of a protobuf-es generated service. */
export type NiceServiceDefinition<S extends GenServiceMethods> = {
  [K in keyof S]: NiceMethodDefinition<S[K]>;
};

/** The nice-grpc definition of a generated service type: `NiceDefinitionOf<typeof UserService>`. */
export type NiceDefinitionOf<T> = T extends GenService<infer S> ? NiceServiceDefinition<S> : never;

/**
 * A request that did not decode (bad wire format, invalid UTF-8). grpc-js
 * answers a throwing deserializer with INTERNAL; decoding to this marker
 * instead lets the validation middleware answer INVALID_ARGUMENT.
 */
export class UndecodableRequest {
  constructor(readonly cause: unknown) {}
}

/** The gRPC path of a method, "/package.Service/Method". */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * Adapts a protobuf-es service to nice-grpc, which only understands
 * grpc-js and ts-proto shapes. Handlers get the generated message types and
 * may return either full messages or init shapes.
 */
export function toNiceService<S extends GenServiceMethods>(service: GenService<S>): NiceServiceDefinition<S> {
  const definition: Record<string, MethodDefinition<unknown, unknown, unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = toNiceMethod(method);
  }
  return definition as NiceServiceDefinition<S>;
}

function toNiceMethod(method: DescMethod): MethodDefinition<unknown, unknown, unknown, unknown> {
  const { input, output } = method;
  return {
    path: methodPath(method),
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: responseStream(method),
    requestSerialize: (value) => toBinary(input, create(input, value as MessageInitShape<DescMessage>)),
    requestDeserialize: (bytes) => decodeRequest(input, bytes),
    responseSerialize: responseStream(method) ? encodeOnce(output) : (value) => toBinary(output, create(output, value as MessageInitShape<DescMessage>)),
    responseDeserialize: (bytes) => fromBinary(output, bytes),
    options: idempotencyOption(method),
  };
}

const responseStream = (method: DescMethod) =>
  method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";

/**
 * Stream responses are often one message sent to many streams (a change fanned
 * out to every watcher, all written in the same turn of the event loop): each
 * message object is encoded once per turn. The bytes are forgotten after the
 * turn, so they never live as long as a message the server's call chain still
 * holds (the last one a quiet stream sent). Handlers never change a message
 * while it is being written.
 */
function encodeOnce(schema: DescMessage): (value: unknown) => Uint8Array {
  let encoded: Map<unknown, Uint8Array> | undefined;
  return (value) => {
    if (encoded === undefined) {
      encoded = new Map();
      setImmediate(() => (encoded = undefined));
    }
    let bytes = encoded.get(value);
    if (!bytes) {
      bytes = toBinary(schema, create(schema, value as MessageInitShape<DescMessage>));
      encoded.set(value, bytes);
    }
    return bytes;
  };
}

function decodeRequest(schema: DescMessage, bytes: Uint8Array): unknown {
  try {
    return fromBinary(schema, bytes);
  } catch (cause) {
    return new UndecodableRequest(cause);
  }
}

function idempotencyOption(method: DescMethod): MethodDefinition<unknown, unknown, unknown, unknown>["options"] {
  switch (method.idempotency) {
    case MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS:
      return { idempotencyLevel: "NO_SIDE_EFFECTS" };
    case MethodOptions_IdempotencyLevel.IDEMPOTENT:
      return { idempotencyLevel: "IDEMPOTENT" };
    default:
      return {};
  }
}

/** Every method of the given services, by gRPC path. */
export function indexMethods(services: readonly DescService[]): ReadonlyMap<string, DescMethod> {
  return new Map(services.flatMap((service) => service.methods.map((m) => [methodPath(m), m] as const)));
}
