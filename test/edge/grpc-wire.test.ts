import { once } from "node:events";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { createUpstream } from "../../edge/upstream/forward.js";
import { createSessionPool } from "../../edge/upstream/http2-sessions.js";
import { Rejection } from "../../edge/protections/rejections.js";
import { createBase64Decoder } from "../../edge/protocol/web-text.js";
import { createFrameSplitter, frame, isCompressedFrame, trailerFrame } from "../../edge/protocol/wire.js";

describe("the gRPC wire format the edge reads and writes", () => {
  const frames = [frame(new Uint8Array(0)), frame(Buffer.from("hello")), frame(Buffer.alloc(10_000, 7)), frame(Buffer.from("x"))];
  const stream = Buffer.concat(frames);

  it("splits a byte stream into whole frames however it is chunked", () => {
    for (const size of [1, 2, 5, 7, 4096, 65_536, stream.length]) {
      const splitter = createFrameSplitter();
      const out: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size) out.push(...splitter.split(stream.subarray(at, at + size)));
      expect(out, `chunks of ${size}`).toEqual(frames);
      expect(splitter.rest()).toBeUndefined();
    }
  });

  it("keeps an unfinished frame as the rest", () => {
    const splitter = createFrameSplitter();
    expect([...splitter.split(stream.subarray(0, 20))]).toEqual(frames.slice(0, 2));
    expect(splitter.rest()).toEqual(stream.subarray(15, 20));
  });

  it("reads the compressed flag, and frames gRPC-Web trailers as header lines flagged 0x80", () => {
    expect(isCompressedFrame(Buffer.from([1, 0, 0, 0, 0]))).toBe(true);
    expect(isCompressedFrame(frame(Buffer.from("x")))).toBe(false);
    const trailers = trailerFrame({ "grpc-status": "8", "grpc-message": "too%20large" });
    expect(trailers[0]).toBe(0x80);
    expect(trailers.readUInt32BE(1)).toBe(trailers.length - 5);
    expect(trailers.subarray(5).toString()).toBe("grpc-message: too%20large\r\ngrpc-status: 8\r\n");
  });
});

describe("gRPC-Web text bodies", () => {
  it("decode padded base64 strings one after the other, however the chunks split them", () => {
    const parts = [Buffer.from("a"), Buffer.from("hello"), Buffer.alloc(300, 9)];
    const text = Buffer.from(parts.map((part) => part.toString("base64")).join(""));
    for (const size of [1, 3, 4, 5, 7, text.length]) {
      const decode = createBase64Decoder();
      const out: Buffer[] = [];
      for (let at = 0; at < text.length; at += size) out.push(decode(text.subarray(at, at + size)));
      expect(Buffer.concat(out), `chunks of ${size}`).toEqual(Buffer.concat(parts));
    }
  });

  it("refuse characters outside base64 as MALFORMED_REQUEST", () => {
    let refused: unknown;
    try {
      createBase64Decoder()(Buffer.from("AAAA*"));
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(Rejection);
    expect((refused as Rejection).details).toContainEqual(expect.objectContaining({ value: expect.objectContaining({ reason: "MALFORMED_REQUEST" }) }));
  });
});

describe("compressed messages from a service", () => {
  const closers: (() => void)[] = [];
  afterEach(() => closers.splice(0).forEach((close) => close()));

  /** A gRPC server answering every call with `frames`, under grpc-encoding gzip (or none), then OK. */
  async function gzipServer(frames: Uint8Array[], encoding: "gzip" | undefined = "gzip"): Promise<string> {
    const server: Http2Server = createServer();
    server.on("stream", (stream) => {
      stream.on("data", () => undefined);
      stream.respond({ ":status": 200, "content-type": "application/grpc", ...(encoding && { "grpc-encoding": encoding }) }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      for (const frame of frames) stream.write(frame);
      stream.end();
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    closers.push(() => server.close());
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const upstreamOf = (address: string) => {
    const sessions = createSessionPool();
    closers.push(() => sessions.close());
    return createUpstream(address, sessions, () => undefined);
  };
  const options = { headers: {}, timeoutMs: 5_000 };

  it("inflates a compressed unary response and each compressed stream message with the call's grpc-encoding", async () => {
    const hello = Buffer.from("hello, compressed");
    const address = await gzipServer([encodeEnvelope(1, gzipSync(hello)), encodeEnvelope(0, Buffer.from("plain"))]);
    const upstream = upstreamOf(address);
    expect(Buffer.from(await upstream.unary("/test.Service/Unary", new Uint8Array(), options))).toEqual(hello);
    const messages: Buffer[] = [];
    for await (const message of upstream.serverStream("/test.Service/Stream", new Uint8Array(), options)) messages.push(Buffer.from(message));
    expect(messages).toEqual([hello, Buffer.from("plain")]);
  });

  it("refuses a response that inflates past the message limit instead of holding it", async () => {
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024));
    const upstream = upstreamOf(await gzipServer([encodeEnvelope(1, bomb)]));
    const failure = await upstream.unary("/test.Service/Unary", new Uint8Array(), options).then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(ConnectError);
    expect((failure as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((failure as ConnectError).details).toContainEqual(expect.objectContaining({ value: expect.objectContaining({ reason: "RESPONSE_TOO_LARGE" }) }));
  });

  it("answers a response flagged compressed under no grpc-encoding as the service's fault, MALFORMED_RESPONSE, without throwing out of the stream's events", async () => {
    const upstream = upstreamOf(await gzipServer([encodeEnvelope(1, Buffer.from("not compressed at all"))], undefined));
    const failure = await upstream.unary("/test.Service/Unary", new Uint8Array(), options).then(() => undefined, (error: unknown) => error);
    expect((failure as ConnectError).code).toBe(Code.Internal);
    expect((failure as ConnectError).details).toContainEqual(expect.objectContaining({ value: expect.objectContaining({ reason: "MALFORMED_RESPONSE" }) }));
  });
});
