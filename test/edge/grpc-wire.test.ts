import { describe, expect, it } from "vitest";
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
    const trailers = trailerFrame(new Headers({ "grpc-status": "8", "grpc-message": "too%20large" }));
    expect(trailers[0]).toBe(0x80);
    expect(trailers.readUInt32BE(1)).toBe(trailers.length - 5);
    expect(trailers.subarray(5).toString()).toBe("grpc-message: too%20large\r\ngrpc-status: 8\r\n");
  });
});
