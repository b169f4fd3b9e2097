import { request as http1 } from "node:http";
import { connect as http2Connect, type IncomingHttpHeaders } from "node:http2";
import { request as https1 } from "node:https";

/** A request made byte for byte: a body in one piece (with Content-Length) or as separate chunks (without). */
export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Sent one by one without Content-Length (HTTP/1.1: chunked), 20 ms apart. */
  chunks?: Buffer[];
}

/** What came back; `error` when the connection or stream broke before the answer was complete. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
  error?: Error;
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 20));

/** One HTTP/1.1 request on a fresh connection (HTTPS when `tls`, certificates unchecked). */
export function http1Request(port: number, raw: RawRequest, tls = false): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...raw.headers };
    if (raw.body !== undefined) headers["content-length"] = String(Buffer.byteLength(raw.body));
    const options = { host: "127.0.0.1", port, method: raw.method ?? "GET", path: raw.path, headers, agent: false as const };
    const req = tls ? https1({ ...options, rejectUnauthorized: false }) : http1(options);
    let settled = false;
    req.on("response", (res) => {
      const body: Buffer[] = [];
      res.on("data", (chunk: Buffer) => body.push(chunk));
      const done = (error?: Error) => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode!, headers: res.headers, trailers: res.trailers, body: Buffer.concat(body), ...(error ? { error } : {}) });
      };
      res.on("end", () => done());
      res.on("error", done);
      res.on("close", () => done());
    });
    req.on("error", (error) => {
      if (!settled) {
        settled = true;
        reject(error);
      }
    });
    void (async () => {
      if (raw.chunks) {
        for (const chunk of raw.chunks) {
          if (req.destroyed) return;
          req.write(chunk);
          await pause();
        }
      } else if (raw.body !== undefined) {
        req.write(raw.body);
      }
      if (!req.destroyed) req.end();
    })();
  });
}

/** One HTTP/2 request (h2c with prior knowledge) on a fresh session. */
export function http2Request(port: number, raw: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://127.0.0.1:${port}`);
    session.on("error", () => undefined);
    const headers: Record<string, string> = { ":method": raw.method ?? "GET", ":path": raw.path, ...raw.headers };
    if (raw.body !== undefined) headers["content-length"] = String(Buffer.byteLength(raw.body));
    const stream = session.request(headers, { endStream: raw.body === undefined && raw.chunks === undefined });
    let status = 0;
    let responseHeaders: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const body: Buffer[] = [];
    let failure: Error | undefined;
    stream.on("response", (received) => {
      status = Number(received[":status"]);
      responseHeaders = received;
    });
    stream.on("trailers", (received) => (trailers = received));
    stream.on("data", (chunk: Buffer) => body.push(chunk));
    stream.on("error", (error) => (failure = error));
    stream.on("close", () => {
      session.close();
      if (status === 0) return reject(failure ?? new Error(`stream closed without a response (code ${stream.rstCode})`));
      resolve({ status, headers: responseHeaders, trailers, body: Buffer.concat(body), ...(failure ? { error: failure } : {}) });
    });
    void (async () => {
      if (raw.chunks) {
        for (const chunk of raw.chunks) {
          if (stream.destroyed || stream.closed) return;
          stream.write(chunk);
          await pause();
        }
        if (!stream.destroyed && !stream.closed) stream.end();
      } else if (raw.body !== undefined) {
        stream.end(raw.body);
      }
    })();
  });
}
