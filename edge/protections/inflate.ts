import { promisify } from "node:util";
import { brotliDecompress, gunzip, inflate } from "node:zlib";
import { bodyTooLarge, malformedRequest, unsupportedEncoding } from "./rejections.js";

type Decoder = (bytes: Buffer, options: { maxOutputLength: number }) => Promise<Buffer>;

/** The codings the edge inflates, by their HTTP and gRPC names (deflate is the zlib format in both). */
const decoders: Readonly<Record<string, Decoder>> = {
  gzip: promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

/** The codings a protocol takes; REST and Connect take all three, the gRPC relay what the services speak. */
const inflatedEncodings = Object.keys(decoders);

/**
 * Inflates a compressed body or message, never past `maxBytes`: zlib is
 * given `maxOutputLength`, so it stops as soon as its output passes the
 * limit, and a bomb costs at most that much memory and the work to produce
 * it. Refuses with a Rejection: over the limit REQUEST_TOO_LARGE, bytes that
 * do not inflate MALFORMED_REQUEST, an encoding not in `accepted`
 * UNSUPPORTED_ENCODING. "identity" returns the bytes as they are.
 */
export async function inflateWithin(
  encoding: string,
  bytes: Buffer,
  maxBytes: number,
  accepted: readonly string[] = inflatedEncodings,
): Promise<Buffer> {
  if (encoding === "identity") return bytes;
  const decode = accepted.includes(encoding) ? decoders[encoding] : undefined;
  if (!decode) throw unsupportedEncoding(encoding, ["identity", ...accepted]);
  if (bytes.byteLength === 0) return bytes;
  try {
    return await decode(bytes, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw bodyTooLarge(maxBytes);
    throw malformedRequest(`cannot decompress the ${encoding} request body`, { cause: error });
  }
}
