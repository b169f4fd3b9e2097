import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChannelCredentials, createChannel, createClient } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { toNiceService } from "../../services/kit/grpc/service-definition.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { selfSignedCertificate } from "../support/self-signed-certificate.js";

describe("the edge with TLS configured", () => {
  let dir: string;
  let ca: Buffer;
  let stack: TestEdgeStack;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "launchpad-tls-"));
    const files = selfSignedCertificate(dir);
    ca = readFileSync(files.cert);
    stack = await startTestEdgeStack({ edge: { LAUNCHPAD_TLS_CERT: files.cert, LAUNCHPAD_TLS_KEY: files.key } });
    port = stack.edge.port;
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("speaks HTTP/2 to clients that offer h2 through ALPN, with HSTS", async () => {
    const session = connect(`https://127.0.0.1:${port}`, { ca });
    try {
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const stream = session.request({ ":path": "/healthz" });
        stream.on("response", resolve).on("error", reject);
        stream.resume();
      });
      expect(session.alpnProtocol).toBe("h2");
      expect(headers[":status"]).toBe(200);
      expect(headers["strict-transport-security"]).toMatch(/max-age=\d+/);
    } finally {
      session.close();
    }
  });

  it("speaks HTTP/1.1 to clients that only offer http/1.1", async () => {
    const { status, alpn } = await new Promise<{ status: number; alpn: string | false | null }>((resolve, reject) => {
      const agent = new Agent({ ca, ALPNProtocols: ["http/1.1"] });
      const req = httpsRequest({ host: "127.0.0.1", port, path: "/healthz", agent }, (res) => {
        res.resume();
        resolve({ status: res.statusCode!, alpn: (res.socket as import("node:tls").TLSSocket).alpnProtocol });
      });
      req.on("error", reject).end();
    });
    expect(alpn).toBe("http/1.1");
    expect(status).toBe(200);
  });

  it("relays gRPC over TLS", async () => {
    const channel = createChannel(`127.0.0.1:${port}`, ChannelCredentials.createSsl(ca));
    try {
      const { keys } = await createClient(toNiceService(UserService), channel).getJwks({});
      expect(keys.length).toBeGreaterThan(0);
    } finally {
      channel.close();
    }
  });
});
