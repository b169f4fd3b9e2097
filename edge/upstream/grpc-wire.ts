/** The small parts of the gRPC wire format the edge writes and reads itself. */

/** A grpc-timeout header value: at most 8 digits, in milliseconds while they fit. */
export function grpcTimeout(ms: number): string {
  return ms <= 99_999_999 ? `${Math.max(1, Math.ceil(ms))}m` : `${Math.ceil(ms / 1000)}S`;
}

/** One length-prefixed, uncompressed message frame. */
export function frame(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.byteLength);
  framed[0] = 0;
  framed.writeUInt32BE(message.byteLength, 1);
  framed.set(message, 5);
  return framed;
}

/** Splits a byte stream into message frames; a frame may span chunks. */
export function createFrameReader() {
  let pending: Buffer | undefined;
  return function* read(chunk: Buffer): Generator<Uint8Array> {
    let buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
    while (buffer.length >= 5) {
      const length = buffer.readUInt32BE(1);
      if (buffer.length < 5 + length) break;
      if ((buffer[0]! & 1) !== 0) throw new Error("compressed messages are not supported");
      yield buffer.subarray(5, 5 + length);
      buffer = buffer.subarray(5 + length);
    }
    pending = buffer.length > 0 ? buffer : undefined;
  };
}

/** The first message of a unary response's bytes; undefined when there is none whole (or it is compressed). */
export function firstMessage(chunks: readonly Buffer[]): Uint8Array | undefined {
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (bytes.length < 5 || (bytes[0]! & 1) !== 0) return undefined;
  const length = bytes.readUInt32BE(1);
  return bytes.length < 5 + length ? undefined : bytes.subarray(5, 5 + length);
}
