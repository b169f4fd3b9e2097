import { Client, Metadata, credentials, type ServiceError } from "@grpc/grpc-js";

const identity = (bytes: Buffer): Buffer => bytes;

/**
 * Makes one unary gRPC call with raw protobuf bytes in and out, so the
 * caller sees exactly what the server sent. Resolves only when the call
 * ends with grpc-status 0; any other status rejects with the status code
 * and message (a ServiceError).
 */
export async function callUnaryRaw(
  address: string,
  path: string,
  request: Uint8Array,
  headers: Readonly<Record<string, string>> = {},
): Promise<Buffer> {
  const client = new Client(address, credentials.createInsecure());
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(
        path,
        identity,
        identity,
        Buffer.from(request),
        metadata,
        { deadline: Date.now() + 10_000 },
        (error: ServiceError | null, response?: Buffer) => (error ? reject(error) : resolve(response!)),
      );
    });
  } finally {
    client.close();
  }
}
