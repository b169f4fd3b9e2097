/**
 * Every protocol the edge speaks × every kind of outcome, read off the wire:
 * the HTTP status, the code the protocol carries, and the ErrorInfo reason.
 * Requests are written byte for byte (connect-es's envelope encoder for the
 * framed protocols), so what a client of each protocol would see is what is
 * asserted, whichever path inside the edge answered.
 */
import { request as http1 } from "node:http";
import { create, fromBinary, toBinary, toJsonString, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import {
  CreateDeploymentRequestSchema,
  GetDeploymentRequestSchema,
  WatchDeploymentsRequestSchema,
  WatchDeploymentsResponseSchema,
  type WatchDeploymentsResponse,
} from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { GetCurrentUserRequestSchema, StreamUsersRequestSchema } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { http1Request, http2Request, type RawResponse } from "../support/raw-http.js";
import { admin } from "../support/users-service.js";

const maxBodyBytes = 64 * 1024;
const users = "/launchpad.user.v1.UserService";
const deployments = "/launchpad.deployment.v1.DeploymentService";

/** What one exchange carried, in the same terms for every protocol. */
interface Outcome {
  httpStatus: number;
  /** The gRPC code as a number (0 for OK). */
  code: number;
  reason: string | undefined;
  /** Response messages received. */
  messages: number;
}

/** One call: its RPC path, request message, and REST form. */
interface Call {
  rpc: string;
  schema: DescMessage;
  message: MessageInitShape<DescMessage>;
  rest: { method: string; path: string; body?: string };
}

/** A body that is none of the protocols' message formats. */
const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
const tooLargeName = "x".repeat(maxBodyBytes * 2);

const reasonOf = (details: { type: string; value: Uint8Array }[]): string | undefined => {
  const info = details.find((d) => d.type === ErrorInfoSchema.typeName);
  return info && fromBinary(ErrorInfoSchema, info.value).reason;
};

/** Splits a framed body into its envelopes. */
function envelopes(body: Buffer): { flags: number; data: Buffer }[] {
  const out: { flags: number; data: Buffer }[] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    out.push({ flags: body[at]!, data: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

/** A gRPC status read from headers or a gRPC-Web trailer block. */
function grpcOutcome(httpStatus: number, status: { get(name: string): string | null | undefined }, messages: number): Outcome {
  const details = status.get("grpc-status-details-bin");
  const decoded = details ? fromBinary(StatusSchema, Buffer.from(details, "base64")) : undefined;
  const reason = decoded && reasonOf(decoded.details.map((any) => ({ type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1), value: any.value })));
  return { httpStatus, code: Number(status.get("grpc-status") ?? -1), reason, messages };
}

const headerGetter = (...sources: Record<string, unknown>[]) => ({
  get: (name: string) => sources.map((source) => source[name]).find((value) => value !== undefined) as string | undefined,
});

const connectCodes: Record<string, number> = {
  canceled: 1, unknown: 2, invalid_argument: 3, deadline_exceeded: 4, not_found: 5, already_exists: 6, permission_denied: 7,
  resource_exhausted: 8, failed_precondition: 9, aborted: 10, out_of_range: 11, unimplemented: 12, internal: 13, unavailable: 14,
  data_loss: 15, unauthenticated: 16,
};

/** A Connect error JSON's code and ErrorInfo reason. */
function connectError(json: { code: string; details?: { type: string; value: string }[] }): Pick<Outcome, "code" | "reason"> {
  return { code: connectCodes[json.code] ?? -1, reason: reasonOf((json.details ?? []).map((d) => ({ type: d.type, value: Buffer.from(d.value, "base64") }))) };
}

/** How each protocol sends a call and reads what came back. */
interface WireProtocol {
  name: string;
  send(port: number, call: Call, options: { body?: Buffer; path?: string; headers: Record<string, string> }): Promise<Outcome>;
}

const framed = (call: Call, body?: Buffer) => Buffer.from(encodeEnvelope(0, body ?? toBinary(call.schema, create(call.schema, call.message))));

const grpcWeb = (text: boolean): WireProtocol => ({
  name: text ? "gRPC-Web text" : "gRPC-Web",
  async send(port, call, { body, path, headers }) {
    const type = text ? "application/grpc-web-text" : "application/grpc-web+proto";
    const frames = framed(call, body);
    const response = await http1Request(port, {
      method: "POST",
      path: path ?? call.rpc,
      headers: { ...headers, "content-type": type, accept: type, "x-grpc-web": "1" },
      body: text ? frames.toString("base64") : frames,
    });
    const all = envelopes(text ? decodeBase64Chunks(response.body.toString("latin1")) : response.body);
    const trailer = all.find((e) => (e.flags & 0x80) !== 0);
    const status = trailer ? trailerParse(trailer.data) : new Headers();
    const fromHeaders = headerGetter(response.headers as Record<string, unknown>);
    return grpcOutcome(response.status, trailer ? status : fromHeaders, all.filter((e) => e.flags === 0).length);
  },
});

/** Base64 text that may be several padded chunks one after the other, as a text-mode server sends them. */
function decodeBase64Chunks(text: string): Buffer {
  return Buffer.concat((text.match(/[^=]*(=+|$)/g) ?? []).filter((part) => part !== "").map((part) => Buffer.from(part, "base64")));
}

const protocols: WireProtocol[] = [
  {
    name: "gRPC",
    async send(port, call, { body, path, headers }) {
      const response = await http2Request(port, {
        method: "POST",
        path: path ?? call.rpc,
        headers: { ...headers, "content-type": "application/grpc+proto", te: "trailers" },
        body: framed(call, body),
      });
      const messages = envelopes(response.body).length;
      return grpcOutcome(response.status, headerGetter(response.trailers as Record<string, unknown>, response.headers as Record<string, unknown>), messages);
    },
  },
  grpcWeb(false),
  grpcWeb(true),
  ...(["json", "proto"] as const).map(
    (codec): WireProtocol => ({
      name: `Connect ${codec}`,
      async send(port, call, { body, path, headers }) {
        const streaming = call.rpc.endsWith("/StreamUsers");
        const encoded = body ?? (codec === "json" ? Buffer.from(toJsonString(call.schema, create(call.schema, call.message))) : Buffer.from(toBinary(call.schema, create(call.schema, call.message))));
        const response = await http1Request(port, {
          method: "POST",
          path: path ?? call.rpc,
          headers: { ...headers, "content-type": streaming ? `application/connect+${codec}` : `application/${codec}`, "connect-protocol-version": "1" },
          body: streaming ? Buffer.from(encodeEnvelope(0, encoded)) : encoded,
        });
        if (!streaming) {
          if (response.status === 200) return { httpStatus: 200, code: 0, reason: undefined, messages: 1 };
          return { httpStatus: response.status, ...connectError(JSON.parse(response.body.toString())), messages: 0 };
        }
        const all = envelopes(response.body);
        const end = all.find((e) => (e.flags & 0b10) !== 0);
        const endJson = end ? (JSON.parse(end.data.toString()) as { error?: { code: string; details?: { type: string; value: string }[] } }) : {};
        const error = endJson.error ? connectError(endJson.error) : { code: 0, reason: undefined };
        return { httpStatus: response.status, ...error, messages: all.filter((e) => e.flags === 0).length };
      },
    }),
  ),
];

/** REST: the call's http rule, google.rpc.Status JSON on failure. */
async function sendRest(port: number, request: { method: string; path: string; body?: string | Buffer }, headers: Record<string, string>): Promise<Outcome> {
  const response: RawResponse = await http1Request(port, { ...request, headers: { ...headers, "content-type": "application/json" } });
  const text = response.body.toString();
  if (response.status < 300) return { httpStatus: response.status, code: 0, reason: undefined, messages: text.trim() === "" ? 0 : text.trim().split("\n").length };
  const status = JSON.parse(text) as { code: number; details: { "@type": string; reason?: string }[] };
  const info = status.details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.ErrorInfo");
  return { httpStatus: response.status, code: status.code, reason: info?.reason, messages: 0 };
}

let stack: TestEdgeStack;
let port: number;
let bearer: Record<string, string>;

beforeAll(async () => {
  stack = await startTestEdgeStack({ edge: { LAUNCHPAD_EDGE_MAX_BODY: String(maxBodyBytes) } });
  port = Number(new URL(stack.url).port);
  bearer = { authorization: `Bearer ${await stack.users.login(admin.email, admin.password)}` };
});

afterAll(async () => {
  await stack?.stop();
});

const getCurrentUser: Call = { rpc: `${users}/GetCurrentUser`, schema: GetCurrentUserRequestSchema, message: {}, rest: { method: "GET", path: "/v1/me" } };
const missingDeployment: Call = {
  rpc: `${deployments}/GetDeployment`,
  schema: GetDeploymentRequestSchema,
  message: { name: "deployments/00000000-0000-4000-8000-000000000000" },
  rest: { method: "GET", path: "/v1/deployments/00000000-0000-4000-8000-000000000000" },
};
const streamUsers: Call = { rpc: `${users}/StreamUsers`, schema: StreamUsersRequestSchema, message: {}, rest: { method: "GET", path: "/v1/users:stream" } };
const createDeployment = (service: string): Call => ({
  rpc: `${deployments}/CreateDeployment`,
  schema: CreateDeploymentRequestSchema,
  message: { deployment: { service, version: "1.0.0", environment: "staging" } },
  rest: { method: "POST", path: "/v1/deployments", body: JSON.stringify({ service, version: "1.0.0", environment: "staging" }) },
});

const ok = { code: 0, reason: undefined };
const notFound = { code: 5, reason: "DEPLOYMENT_NOT_FOUND" };
const tooLarge = { code: 8, reason: "REQUEST_TOO_LARGE" };
const malformed = { code: 3, reason: "MALFORMED_REQUEST" };
const unknownMethod = { code: 12, reason: "UNKNOWN_METHOD" };

describe.each(protocols)("$name", (protocol) => {
  const grpcFamily = protocol.name.startsWith("gRPC");

  it("unary OK: the answer and no error", async () => {
    expect(await protocol.send(port, getCurrentUser, { headers: bearer })).toMatchObject({ httpStatus: 200, ...ok, messages: 1 });
  });

  it("unary domain error: the service's code and reason, relayed", async () => {
    const outcome = await protocol.send(port, missingDeployment, { headers: bearer });
    expect(outcome).toMatchObject({ httpStatus: grpcFamily ? 200 : 404, ...notFound });
  });

  it("server stream: every message, then OK", async () => {
    const outcome = await protocol.send(port, streamUsers, { headers: bearer });
    expect(outcome).toMatchObject({ httpStatus: 200, ...ok });
    expect(outcome.messages).toBeGreaterThanOrEqual(1);
  });

  it("body too large: RESOURCE_EXHAUSTED REQUEST_TOO_LARGE", async () => {
    const call = createDeployment(tooLargeName);
    const outcome = await protocol.send(port, call, { headers: bearer });
    expect(outcome).toMatchObject({ httpStatus: grpcFamily ? 200 : 413, ...tooLarge });
  });

  it("malformed body: INVALID_ARGUMENT MALFORMED_REQUEST", async () => {
    const outcome = await protocol.send(port, createDeployment("matrix"), { headers: bearer, body: garbage });
    expect(outcome).toMatchObject({ httpStatus: grpcFamily ? 200 : 400, ...malformed });
  });

  it("malformed body on a stream: INVALID_ARGUMENT MALFORMED_REQUEST", async () => {
    const outcome = await protocol.send(port, streamUsers, { headers: bearer, body: garbage });
    // Streams answer 200 in every one of these protocols; the error ends the stream.
    expect(outcome).toMatchObject({ httpStatus: 200, ...malformed, messages: 0 });
  });

  it("unknown method: UNIMPLEMENTED UNKNOWN_METHOD", async () => {
    const outcome = await protocol.send(port, getCurrentUser, { headers: bearer, path: `${users}/NoSuchMethod` });
    expect(outcome).toMatchObject({ httpStatus: grpcFamily ? 200 : 404, ...unknownMethod });
  });
});

describe("REST", () => {
  it("unary OK: 200 and the resource", async () => {
    expect(await sendRest(port, getCurrentUser.rest, bearer)).toMatchObject({ httpStatus: 200, ...ok, messages: 1 });
  });

  it("is counted in http_requests_total under the method it calls, not as \"other\"", async () => {
    await sendRest(port, getCurrentUser.rest, bearer);
    const metrics = (await http1Request(port, { path: "/metrics" })).body.toString();
    expect(metrics).toMatch(/http_requests_total\{route="\/launchpad\.user\.v1\.UserService\/GetCurrentUser",method="GET",status="200",protocol="rest"\} [1-9]/);
  });

  it("unary domain error: 404 Status with the service's reason", async () => {
    expect(await sendRest(port, missingDeployment.rest, bearer)).toMatchObject({ httpStatus: 404, ...notFound });
  });

  it("server stream: 200 and every message as a line", async () => {
    const outcome = await sendRest(port, streamUsers.rest, bearer);
    expect(outcome).toMatchObject({ httpStatus: 200, ...ok });
    expect(outcome.messages).toBeGreaterThanOrEqual(1);
  });

  it("body too large: 413 Status REQUEST_TOO_LARGE", async () => {
    const call = createDeployment(tooLargeName);
    expect(await sendRest(port, call.rest, bearer)).toMatchObject({ httpStatus: 413, ...tooLarge });
  });

  it("malformed body: 400 Status MALFORMED_REQUEST", async () => {
    expect(await sendRest(port, { method: "POST", path: "/v1/deployments", body: "{" }, bearer)).toMatchObject({ httpStatus: 400, code: 3, reason: "MALFORMED_REQUEST" });
  });

  it("unknown route: 404 Status NOT_FOUND ROUTE_NOT_FOUND", async () => {
    expect(await sendRest(port, { method: "GET", path: "/v1/no-such-collection" }, bearer)).toMatchObject({ httpStatus: 404, code: 5, reason: "ROUTE_NOT_FOUND" });
  });

  it("a path nothing serves, outside REST: 404 Status NOT_FOUND ROUTE_NOT_FOUND too", async () => {
    expect(await sendRest(port, { method: "GET", path: "/no/such/thing" }, {})).toMatchObject({ httpStatus: 404, code: 5, reason: "ROUTE_NOT_FOUND" });
  });

  it("known route, other HTTP method: 405 Status METHOD_NOT_ALLOWED", async () => {
    expect(await sendRest(port, { method: "DELETE", path: "/v1/me" }, bearer)).toMatchObject({ httpStatus: 405, code: 12, reason: "METHOD_NOT_ALLOWED" });
  });
});

describe("gRPC-Web text, the only mode Google's grpc-web client streams in", () => {
  /**
   * Opens WatchDeployments as application/grpc-web-text over HTTP/1.1 and
   * decodes the base64 response as it arrives, chunk by chunk, into messages.
   */
  function watchAsText(filter: string) {
    const messages: WatchDeploymentsResponse[] = [];
    const body = Buffer.from(encodeEnvelope(0, toBinary(WatchDeploymentsRequestSchema, create(WatchDeploymentsRequestSchema, { filter })))).toString("base64");
    let text = "";
    let contentType: string | undefined;
    const req = http1({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: `${deployments}/WatchDeployments`,
      headers: { ...bearer, "content-type": "application/grpc-web-text", accept: "application/grpc-web-text", "x-grpc-web": "1" },
    });
    req.on("response", (res) => {
      contentType = res.headers["content-type"];
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
        messages.splice(0, messages.length, ...envelopes(decodeBase64Chunks(text)).filter((e) => e.flags === 0).map((e) => fromBinary(WatchDeploymentsResponseSchema, e.data)));
      });
    });
    req.on("error", () => undefined);
    req.end(body);
    return { messages, contentType: () => contentType, close: () => req.destroy() };
  }

  async function until(check: () => boolean, what: string): Promise<void> {
    for (let waited = 0; !check(); waited += 20) {
      if (waited > 10_000) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("WatchDeployments streams the snapshot, then a change made while it is open, as base64 frames", async () => {
    const service = "matrix-text-watch";
    const watch = watchAsText(`service = "${service}"`);
    try {
      await until(() => watch.messages.some((m) => m.kind.case === "snapshot"), "the snapshot");
      expect(watch.contentType()).toMatch(/^application\/grpc-web-text/);
      const created = await protocols[0]!.send(port, createDeployment(service), { headers: bearer });
      expect(created.code).toBe(0);
      await until(() => watch.messages.some((m) => m.kind.case === "change"), "the change");
    } finally {
      watch.close();
    }
  });
});
