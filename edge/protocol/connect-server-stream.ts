import { fromBinary, fromJson, toBinary, toJsonString, type DescMethod } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { endStreamFlag } from "@connectrpc/connect/protocol-connect";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { sendRefusal } from "../protections/limits.js";
import { malformedRequest } from "../protections/rejections.js";
import type { Route } from "../routing/classify.js";
import { readBody } from "./request-body.js";
import { responseContentType } from "./send-error.js";
import { drained } from "./drained.js";
import { connectTimeoutOf, frame } from "./wire.js";

/** The end-stream message of a call that ended OK, without trailers. */
const endStreamOk = encodeEnvelope(endStreamFlag, new TextEncoder().encode("{}"));

/**
 * The one request message of a server-streaming call, as upstream bytes;
 * MALFORMED_REQUEST unless the body is exactly one uncompressed envelope
 * that decodes (JSON read as connect-node reads it: unknown fields ignored).
 */
function requestOf(method: DescMethod, json: boolean, body: Buffer): Uint8Array {
  const length = body.length >= 5 ? body.readUInt32BE(1) : -1;
  if (length !== body.length - 5 || body[0] !== 0) throw malformedRequest("cannot read the request: expected exactly one uncompressed message");
  const message = body.subarray(5);
  try {
    if (json) return toBinary(method.input, fromJson(method.input, JSON.parse(message.toString("utf8")), { ignoreUnknownFields: true }));
    // Decoded only to refuse what does not decode, as connect-node does; it goes upstream as it came.
    fromBinary(method.input, message);
    return message;
  } catch (cause) {
    throw malformedRequest(`cannot read the request: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * The lean path for a Connect server-streaming call (WatchDeployments):
 * read the one request message, open the upstream gRPC stream, and write
 * each upstream message as a Connect envelope (converted once to JSON for
 * the JSON codec), then the end-stream message. connect-node's generic
 * pipeline holds a chain of async generators, an AbortController and a
 * Headers copy per stream for the stream's life; a watch holds only its
 * upstream call and this loop. Compressed requests and anything but a
 * POST to a method a service owns are left to connect-node (false).
 */
export function createConnectServerStream(options: { maxBodyBytes: number; shutdownSignal?: AbortSignal }) {
  async function serve(req: EdgeRequest, res: EdgeResponse, route: Route): Promise<void> {
    const { method, path, upstream } = route.rpc!;
    const timeout = connectTimeoutOf(req.headers);
    if (timeout.error) throw timeout.error;
    const json = route.codec === "json";
    const request = requestOf(method, json, await readBody(req, options.maxBodyBytes));
    const messages = upstream!.serverStream(path, request, {
      headers: req.headers,
      ids: route.ids,
      timeoutMs: timeout.timeoutMs,
      signal: options.shutdownSignal,
      client: res,
      clientAddress: req.socket.remoteAddress,
    });
    res.writeHead(200, { "content-type": responseContentType("connect-stream", req) });
    for await (const message of messages) {
      const out = json ? Buffer.from(toJsonString(method.output, fromBinary(method.output, message))) : message;
      if (!res.write(frame(out))) await drained(res);
    }
    res.end(endStreamOk);
  }

  return (req: EdgeRequest, res: EdgeResponse, route: Route): boolean => {
    const encoding = req.headers["connect-content-encoding"];
    if (req.method !== "POST" || route.rpc?.upstream === undefined || route.rpc.method.methodKind !== "server_streaming") return false;
    if (encoding !== undefined && encoding !== "identity") return false;
    serve(req, res, route).catch((error: unknown) => sendRefusal(req, res, "connect-stream", ConnectError.from(error)));
    return true;
  };
}
