import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { edgeProtocols } from "../support/edge-protocols.js";
import { startRecordingUpstream, type RecordingUpstream } from "../support/recording-upstream.js";

// The edge sent its proxy secret, and the client address it vouches for,
// with every upstream call; only the users service reads them (to throttle
// sign-ins per client address), so a deployments service, or anything
// posing as one, learned the secret that makes the users service trust
// x-forwarded-for.

const proxySecret = "the edge's proxy secret, for the users service only";

describe("the proxy secret goes only to the users service", () => {
  let upstream: RecordingUpstream;

  beforeAll(async () => {
    upstream = await startRecordingUpstream({ LAUNCHPAD_PROXY_SECRET: proxySecret });
  });

  afterAll(async () => {
    await upstream?.stop();
  });

  it.each(edgeProtocols.map((protocol) => ({ protocol })))(
    "a $protocol.name call relayed to the deployments service carries neither the secret nor x-forwarded-for",
    async ({ protocol }) => {
      const client = protocol.client(upstream.url);
      try {
        const requestId = `vouching-${randomUUID()}`;
        const response = await client.getDeployment({ name: "deployments/recorded" }, { headers: { "x-request-id": requestId } });
        expect(response.deployment?.service).toBe("recorded");

        const call = upstream.calls.find((c) => c.metadata["x-request-id"]?.[0] === requestId);
        expect(call?.path).toBe(`/${DeploymentService.typeName}/GetDeployment`);
        expect(call!.metadata["x-launchpad-proxy-secret"]).toBeUndefined();
        expect(call!.metadata["x-forwarded-for"]).toBeUndefined();
        expect(JSON.stringify(call!.metadata)).not.toContain(proxySecret);
      } finally {
        client.close();
      }
    },
  );
});
