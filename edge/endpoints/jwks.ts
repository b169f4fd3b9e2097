import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import {
  GetJwksRequestSchema,
  GetJwksResponseSchema,
  UserService,
} from "../../gen/launchpad/user/v1/user_service_pb.js";
import { methodPath } from "../../services/kit/grpc/service-definition.js";
import type { Upstream } from "../upstream/forward.js";

const path = methodPath(UserService.method.getJwks);
const request = toBinary(GetJwksRequestSchema, create(GetJwksRequestSchema));

/**
 * The JWK Set at /.well-known/jwks.json, from UserService.GetJwks (whose JSON
 * form is a JWK Set), cached for `ttlMs` so verifiers polling it cost the
 * users service nothing.
 */
export function createJwksDocument(users: Upstream, ttlMs = 60_000) {
  let cached: { body: string; expiresAt: number } | undefined;
  return async (): Promise<string> => {
    if (cached && cached.expiresAt > Date.now()) return cached.body;
    const bytes = await users.unary(path, request, { headers: new Headers(), timeoutMs: 2_000, signal: AbortSignal.timeout(2_000) });
    const body = toJsonString(GetJwksResponseSchema, fromBinary(GetJwksResponseSchema, bytes));
    cached = { body, expiresAt: Date.now() + ttlMs };
    return body;
  };
}
