import { Metadata, createChannel, createClient } from "nice-grpc";
import { Role, UserKind } from "../../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { toNiceService } from "../kit/grpc/service-definition.js";

/** The service account the demo agent runs as. */
export const demoAgentEmail = "demo-agent@launchpad.local";

/**
 * Creates the demo agent's service account and an API key for it through
 * the public API, signed in as an admin, and returns the key's secret.
 */
export async function provisionAgentKey(usersAddress: string, admin: { email: string; password: string }): Promise<string> {
  const channel = createChannel(usersAddress);
  try {
    const client = createClient(toNiceService(UserService), channel);
    const { tokens } = await client.login(admin);
    const auth = { metadata: Metadata({ authorization: `Bearer ${tokens!.accessToken}` }) };
    const { user } = await client.createUser(
      { user: { email: demoAgentEmail, displayName: "Demo agent", kind: UserKind.SERVICE_ACCOUNT, role: Role.AGENT } },
      auth,
    );
    const { secret } = await client.createApiKey({ parent: user!.name, apiKey: { displayName: "demo agent" } }, auth);
    await client.logout({ refreshToken: tokens!.refreshToken });
    return secret;
  } finally {
    channel.close();
  }
}
