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

/** Whether a whole frame's flags say its message is compressed (the grpc-encoding of the call). */
export function isCompressedFrame(whole: Uint8Array): boolean {
  return (whole[0]! & 1) !== 0;
}

/** gRPC-Web's trailers: a last frame flagged 0x80 whose payload is the trailers as HTTP/1.1 header lines. */
export function trailerFrame(trailers: Readonly<Record<string, unknown>>): Buffer {
  const text = Buffer.from(Object.entries(trailers).map(([name, value]) => `${name}: ${String(value)}\r\n`).join(""));
  const framed = Buffer.allocUnsafe(5 + text.length);
  framed[0] = 0x80;
  framed.writeUInt32BE(text.length, 1);
  text.copy(framed, 5);
  return framed;
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

/** Splits a byte stream into the messages of uncompressed frames; a frame may span chunks. */
export function createFrameReader() {
  const frames = createFrameSplitter();
  return function* read(chunk: Buffer): Generator<Uint8Array> {
    for (const whole of frames.split(chunk)) {
      if (isCompressedFrame(whole)) throw new Error("compressed messages are not supported");
      yield whole.subarray(5);
    }
  };
}

/** The first message of a unary response's bytes; undefined when there is none whole (or it is compressed). */
export function firstMessage(chunks: readonly Buffer[]): Uint8Array | undefined {
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (bytes.length < 5 || isCompressedFrame(bytes)) return undefined;
  const length = bytes.readUInt32BE(1);
  return bytes.length < 5 + length ? undefined : bytes.subarray(5, 5 + length);
}
