/**
 * Frames one protobuf message as a gRPC length-prefixed message: a zero
 * (uncompressed) flag byte, the length as a big-endian uint32, the bytes.
 */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}
