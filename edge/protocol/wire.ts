/** The gRPC-family wire format, written once: envelopes, trailers, end-stream messages, timeouts. */
import type { IncomingHttpHeaders } from "node:http";
import { ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { endStreamFlag, endStreamToJson, parseTimeout } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { inflateWithin } from "../protections/inflate.js";
import { malformedRequest } from "../protections/rejections.js";

/** The flag of an envelope whose message is compressed with the call's grpc-encoding. */
const compressedFlag = 1;

/** A Connect request's `connect-timeout-ms`, at most a timer's longest delay; `error` when it is malformed. */
export function connectTimeoutOf(headers: IncomingHttpHeaders): ReturnType<typeof parseTimeout> {
  return parseTimeout((headers["connect-timeout-ms"] as string | undefined) ?? null, 2 ** 31 - 1);
}

/** A grpc-timeout header value: at most 8 digits, in milliseconds while they fit. */
export function grpcTimeout(ms: number): string {
  return ms <= 99_999_999 ? `${Math.max(1, Math.ceil(ms))}m` : `${Math.ceil(ms / 1000)}S`;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One length-prefixed, uncompressed message frame. */
export function frame(message: Uint8Array): Buffer {
  return asBuffer(encodeEnvelope(0, message));
}

/** Whether a whole frame's flags say its message is compressed (the grpc-encoding of the call). */
export function isCompressedFrame(whole: Uint8Array): boolean {
  return (whole[0]! & compressedFlag) !== 0;
}

/** A gRPC status as header names and values: grpc-status, grpc-message, grpc-status-details-bin (and an error's metadata). */
export type GrpcStatus = Record<string, string>;

/** The gRPC status of an error: percent-encoded grpc-message, details, metadata. */
export function grpcStatusHeaders(error: ConnectError): GrpcStatus {
  return Object.fromEntries(setTrailerStatus(new Headers(), error));
}

/** gRPC-Web's trailers: a last frame flagged 0x80 whose payload is the trailers as HTTP/1.1 header lines. */
export function trailerFrame(trailers: GrpcStatus): Buffer {
  return asBuffer(encodeEnvelope(trailerFlag, trailerSerialize(new Headers(trailers))));
}

/** A Connect end-stream message carrying the error and its metadata (retry-after). */
export function endStreamFrame(error: ConnectError): Buffer {
  const json = endStreamToJson(new Headers(), error, undefined);
  return asBuffer(encodeEnvelope(endStreamFlag, Buffer.from(JSON.stringify(json))));
}

/**
 * Splits a byte stream into whole frames, prefix included; a frame may span
 * chunks, which are joined once the frame is complete (not on every chunk,
 * which would copy a large frame over and over). `rest()` is what is left of
 * an unfinished frame when the stream ends.
 */
export function createFrameSplitter() {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** The length of the frame being read, once its prefix is in. */
  let needed = 5;
  return {
    *split(chunk: Buffer): Generator<Buffer> {
      pending.push(chunk);
      pendingBytes += chunk.length;
      while (pendingBytes >= needed) {
        let buffer = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        pending = [buffer];
        const end = 5 + buffer.readUInt32BE(1);
        if (buffer.length < end) {
          needed = end;
          break;
        }
        yield buffer.subarray(0, end);
        buffer = buffer.subarray(end);
        pending = buffer.length > 0 ? [buffer] : [];
        pendingBytes = buffer.length;
        needed = 5;
      }
    },
    rest: (): Buffer | undefined => (pendingBytes > 0 ? Buffer.concat(pending, pendingBytes) : undefined),
  };
}

/** The first whole frame of a unary response's bytes, prefix included; undefined when there is none whole. */
export function firstFrame(chunks: readonly Buffer[]): Buffer | undefined {
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (bytes.length < 5) return undefined;
  const end = 5 + bytes.readUInt32BE(1);
  return bytes.length < end ? undefined : bytes.subarray(0, end);
}

/**
 * A whole frame's message, inflated with the call's `encoding` within
 * `maxBytes` when its flag says it is compressed (flagged compressed on an identity
 * call: MALFORMED_REQUEST).
 */
export function messageOf(whole: Buffer, encoding: string, maxBytes: number): Buffer | Promise<Buffer> {
  const message = whole.subarray(5);
  if (!isCompressedFrame(whole)) return message;
  if (encoding === "identity") throw malformedRequest("a message is flagged compressed, but the call names no grpc-encoding");
  return inflateWithin(encoding, message, maxBytes);
}

/**
 * Splits a byte stream into the messages of its frames, inflating compressed
 * ones with the encoding `encodingOf` names once they arrive; a frame may
 * span chunks.
 */
export function createFrameReader(encodingOf: () => string, maxBytes: number) {
  const frames = createFrameSplitter();
  return async function* read(chunk: Buffer): AsyncGenerator<Uint8Array> {
    for (const whole of frames.split(chunk)) yield await messageOf(whole, encodingOf(), maxBytes);
  };
}
