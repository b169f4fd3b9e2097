/**
 * gRPC-Web text mode (application/grpc-web-text, gRPC's PROTOCOL-WEB.md):
 * the same frames as binary gRPC-Web, base64-encoded both ways. Each
 * response chunk is encoded on its own, padded, as Envoy's gRPC-Web filter
 * does; clients decode 4-character groups, so padding between chunks is fine.
 */
import { malformedRequest } from "../protections/rejections.js";

const base64Text = /^[A-Za-z0-9+/=\s]*$/;

/** A chunk of a text-mode response: `bytes` as padded base64. */
export function base64Chunk(bytes: Uint8Array): Buffer {
  return Buffer.from(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"), "latin1");
}

/**
 * Decodes a text-mode request body chunk by chunk: whole 4-character groups
 * are decoded as they arrive, the rest waits for the next chunk. A body may
 * be several padded base64 strings one after the other (Node's decoder stops
 * at the first padding, so each is decoded on its own). Characters outside
 * base64 are MALFORMED_REQUEST.
 */
export function createBase64Decoder() {
  let pending = "";
  return (chunk: Buffer): Buffer => {
    const received = chunk.toString("latin1");
    if (!base64Text.test(received)) throw malformedRequest("a grpc-web-text body must be base64");
    const text = pending + received.replace(/\s+/g, "");
    const whole = text.length - (text.length % 4);
    pending = text.slice(whole);
    const parts: Buffer[] = [];
    let start = 0;
    for (let pad = text.indexOf("="); pad !== -1 && pad < whole; pad = text.indexOf("=", start)) {
      const end = (Math.floor(pad / 4) + 1) * 4;
      parts.push(Buffer.from(text.slice(start, end), "base64"));
      start = end;
    }
    if (start < whole) parts.push(Buffer.from(text.slice(start, whole), "base64"));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  };
}
