import { createHash } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { abortable, isAbortError } from "abort-controller-x";
import type { JSONWebKeySet, JWK } from "jose";
import { ClientError, Metadata, Status, createChannel, createClientFactory, type Channel, type Client } from "nice-grpc";
import { ErrorInfo, RichClientError, errorDetailsClientMiddleware } from "nice-grpc-error-details";
import type { JsonWebKey } from "../../../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { DomainError } from "../errors.js";
import { createDeadlineMiddleware, type DeadlineCallOptions } from "../grpc/client-deadline.js";
import { toNiceService, type NiceDefinitionOf } from "../grpc/service-definition.js";
import type { Logger } from "../logger.js";
import { createAccessTokenVerifier, type AccessTokenRules, type KeySetSource, type VerifiedAccessToken } from "./access-token.js";
import { createIdentityFollower, type FollowerStamp } from "./identity-follower.js";
import { opaqueSubject, sessionSubjectName } from "./identity-subjects.js";
import type { CredentialVerifier, Principal } from "./principal.js";

/** How to reach the users service and how long to trust its answers. */
export interface RemoteVerifierOptions {
  /** The users service: a channel, or its address ("host:port"), in which case close() closes the channel made for it. */
  users: Channel | string;
  /** Issuer and audience every access token must name. */
  rules: AccessTokenRules;
  /** How long an accepted API key is trusted without asking again, changes aside; 30 s unless given. */
  apiKeyCacheTtlMs?: number;
  /** Deadline of each call to the users service, retries included; 2 s unless given. */
  callTimeoutMs?: number;
  /** The least time between two JWKS refetches caused by unknown key ids; 5 s unless given. */
  jwksRefreshIntervalMs?: number;
  /** With the identity-change stream unheard for this long, every credential is checked with users; 5 s unless given. */
  identityStaleAfterMs?: number;
  /** The time; tests move it forward to expire cached answers. */
  clock?: () => Date;
  /** Where refetches and upstream failures are logged; silent unless given. */
  logger?: Logger;
}

/** A credential verifier backed by the users service. */
export interface RemoteVerifier extends CredentialVerifier {
  /** Stops following identity changes and closes the channel, if the verifier made it from an address. */
  close(): void;
}

type UserClient = Client<NiceDefinitionOf<typeof UserService>, DeadlineCallOptions>;

/** The most API keys, and rechecked access tokens, remembered at once; the oldest is forgotten first. */
const cacheSize = 10_000;

/** An answer of the users service about a credential, and what the follower knew when it was asked. */
interface Checked {
  outcome: Principal | DomainError;
  stamp: FollowerStamp;
  expiresAt: number;
}

/**
 * Verifies credentials for services other than users, by asking the users
 * service over gRPC, and follows its identity changes (WatchIdentityChanges)
 * so that revocations reach it within about a second.
 *
 * Access tokens are verified locally, against the JWKS fetched with GetJwks:
 * once, on first use, then again every five minutes (so rotated-out keys
 * stop verifying) and when a token names an unknown key id, at most once per
 * `jwksRefreshIntervalMs`, so a flood of made-up key ids cannot hammer users. A token is trusted from its claims unless it may
 * predate a change of its user or sign-in (logout, disabled, role,
 * environments or password changed) or the follower's start; such a token is
 * checked with users (GetCurrentUser, which re-reads the user and session)
 * and the answer, principal or refusal, is kept until the next change of its
 * user or session. So a demoted deployer's old token now carries the viewer
 * role, and a signed-out one is refused.
 *
 * API keys are checked with AuthenticateApiKey, and an accepted key is
 * remembered for `apiKeyCacheTtlMs` (under a SHA-256 of its secret, never the
 * secret), or until its key or user changes. Refusals are not remembered, so
 * a key works the moment it is created. Concurrent checks of one credential,
 * and concurrent JWKS fetches, share one call.
 *
 * Fails closed: when the identity-change stream has been unheard for
 * `identityStaleAfterMs`, nothing is trusted from local knowledge; every
 * credential is checked with users, so when users cannot answer either,
 * calls fail with UNAVAILABLE AUTH_SERVICE_UNAVAILABLE.
 *
 * Every call has a deadline of `callTimeoutMs` and is retried on UNAVAILABLE
 * within it. Refusals are UNAUTHENTICATED with the users service's reason;
 * when users cannot answer, UNAVAILABLE AUTH_SERVICE_UNAVAILABLE, never a
 * hang and never INTERNAL.
 */
export function createRemoteVerifier(options: RemoteVerifierOptions): RemoteVerifier {
  const { rules, apiKeyCacheTtlMs = 30_000, callTimeoutMs = 2_000, jwksRefreshIntervalMs = 5_000, identityStaleAfterMs = 5_000 } = options;
  const clock = options.clock ?? (() => new Date());
  const log = options.logger;
  const channel = typeof options.users === "string" ? createChannel(options.users) : options.users;
  const client: UserClient = createClientFactory()
    .use(errorDetailsClientMiddleware)
    .use(createDeadlineMiddleware({ timeoutMs: callTimeoutMs, retries: 2, backoffMs: 50 }))
    .create(toNiceService(UserService), channel);

  const keySource = createJwksSource(client, jwksRefreshIntervalMs, () => clock().getTime(), log);
  const tokens = createAccessTokenVerifier(keySource, rules);
  const identities = createIdentityFollower({ client, staleAfterMs: identityStaleAfterMs, logger: log });
  const apiKeys = new Map<string, Checked & { subjects: string[] }>();
  const accessTokens = new Map<string, Checked>();
  const lookups = new Map<string, SharedCall<Principal>>();

  function remember<T extends Checked>(cache: Map<string, T>, id: string, entry: T) {
    cache.delete(id);
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
    cache.set(id, entry);
  }

  /** The remembered answer for a credential, if the follower is fresh and nothing it depends on changed since. */
  function recall(entry: Checked | undefined, subjects: readonly string[]): Principal | undefined {
    if (!entry || entry.expiresAt <= clock().getTime() || !identities.fresh() || identities.changedSince(entry.stamp, subjects)) {
      return undefined;
    }
    if (entry.outcome instanceof DomainError) throw entry.outcome;
    return entry.outcome;
  }

  /** Runs one call per credential id at a time, shared by every concurrent caller. */
  function shared(id: string, run: (signal: AbortSignal) => Promise<Principal>, signal: AbortSignal | undefined): Promise<Principal> {
    let lookup = lookups.get(id);
    if (!lookup) {
      const started = shareCall(run, () => lookups.delete(id));
      lookups.set(id, started);
      lookup = started;
    }
    return lookup.join(signal);
  }

  async function authenticateApiKey(secret: string, id: string, signal: AbortSignal, metadata: Metadata): Promise<Principal> {
    const stamp = identities.stamp();
    let response;
    try {
      response = await client.authenticateApiKey({ apiKey: secret }, { signal, metadata });
    } catch (error) {
      throw upstreamError(error, "INVALID_API_KEY", log);
    }
    const found = response.principal;
    if (!found) throw upstreamError(new Error("AuthenticateApiKey answered without a principal"), "INVALID_API_KEY", log);
    const { user, email, kind, role, environments } = found;
    const principal: Principal = { user, email, kind, role, environments, credential: "api-key", sessionId: "" };
    const keyExpiresAt = response.expireTime ? timestampDate(response.expireTime).getTime() : Infinity;
    remember(apiKeys, id, {
      outcome: principal,
      stamp,
      expiresAt: Math.min(clock().getTime() + apiKeyCacheTtlMs, keyExpiresAt),
      subjects: [opaqueSubject(response.apiKey), opaqueSubject(user)],
    });
    return principal;
  }

  /** The principal of an access token as users sees it now; refusals are remembered too, as they last. */
  async function currentPrincipal(token: string, claimed: VerifiedAccessToken, id: string, signal: AbortSignal, metadata: Metadata): Promise<Principal> {
    const stamp = identities.stamp();
    const expiresAt = claimed.expiresAt;
    let user;
    try {
      metadata.set("authorization", `Bearer ${token}`);
      ({ user } = await client.getCurrentUser({}, { signal, metadata }));
      if (!user) throw new Error("GetCurrentUser answered without a user");
    } catch (error) {
      const refusal = upstreamError(error, "SESSION_ENDED", log);
      if (refusal instanceof DomainError && refusal.kind === "unauthenticated") remember(accessTokens, id, { outcome: refusal, stamp, expiresAt });
      throw refusal;
    }
    const { name, email, kind, role, environments } = user;
    const principal: Principal = { user: name, email, kind, role, environments, credential: "access-token", sessionId: claimed.principal.sessionId };
    remember(accessTokens, id, { outcome: principal, stamp, expiresAt });
    return principal;
  }

  return {
    async verifyAccessToken(token, { signal, traceparent } = {}) {
      let verified;
      try {
        verified = await tokens.verifyIssued(token, signal);
      } catch (error) {
        // The token verifier reports any failure of the key source as an invalid token; the real cause wins.
        const cause = error instanceof DomainError ? error.cause : undefined;
        if (cause instanceof DomainError || isAbortError(cause)) throw cause;
        throw error;
      }
      const { principal, issuedAt } = verified;
      await identities.settled(callTimeoutMs, signal);
      const subjects = [opaqueSubject(principal.user), opaqueSubject(sessionSubjectName(principal.sessionId))];
      if (identities.fresh() && !identities.predates(issuedAt, subjects)) return principal;
      const id = `token:${secretId(token)}`;
      return recall(accessTokens.get(id), subjects) ?? shared(id, (s) => currentPrincipal(token, verified, id, s, traceMetadata(traceparent)), signal);
    },

    async verifyApiKey(secret, { signal, traceparent } = {}) {
      const id = `key:${secretId(secret)}`;
      await identities.settled(callTimeoutMs, signal);
      const hit = apiKeys.get(id);
      return recall(hit, hit?.subjects ?? []) ?? shared(id, (s) => authenticateApiKey(secret, id, s, traceMetadata(traceparent)), signal);
    },

    close() {
      identities.close();
      if (typeof options.users === "string") channel.close();
    },
  };
}

/**
 * Metadata for a call made while verifying: the caller's trace, so the users
 * service's log line joins it. A check shared by concurrent callers carries
 * the trace of the one that started it.
 */
function traceMetadata(traceparent: string | undefined): Metadata {
  return traceparent ? Metadata({ traceparent }) : Metadata();
}

/** A credential's cache key: a SHA-256 of its secret, never the secret. */
function secretId(secret: string): string {
  return createHash("sha256").update(secret).digest("base64url");
}

/**
 * How long a fetched JWKS is used before it is fetched again, so keys that
 * rotated out stop verifying here too, not only at the users service.
 */
const jwksMaxAgeMs = 5 * 60_000;

/**
 * The JWKS of the users service: fetched on first use and kept; refetched
 * when asked to refresh, unless the last fetch was less than `minIntervalMs`
 * ago. One fetch at a time, shared by everyone waiting for it.
 */
function createJwksSource(client: UserClient, minIntervalMs: number, now: () => number, log: Logger | undefined): KeySetSource {
  let cached: JSONWebKeySet | undefined;
  let lastFetch = -Infinity;
  let fetching: SharedCall<JSONWebKeySet> | undefined;

  async function fetchKeySet(signal: AbortSignal): Promise<JSONWebKeySet> {
    lastFetch = now();
    try {
      const { keys } = await client.getJwks({}, { signal });
      cached = { keys: keys.map(toJwk) };
      log?.info({ kids: cached.keys.map((key) => key.kid) }, "fetched the access token keys");
      return cached;
    } catch (error) {
      throw upstreamError(error, "INVALID_TOKEN", log);
    }
  }

  return {
    async keySet({ refresh, signal }) {
      const age = now() - lastFetch;
      if (cached && (refresh ? age < minIntervalMs : age < jwksMaxAgeMs)) return cached;
      // The fetch is shared, so one caller giving up must not cancel it for the others.
      fetching ??= shareCall(fetchKeySet, () => (fetching = undefined));
      const fetched = fetching.join(signal, { cancelWhenAbandoned: false });
      // A key set merely past its age still verifies while users cannot answer.
      return cached && !refresh ? fetched.catch(() => cached!) : fetched;
    },
  };
}

/** A protobuf JsonWebKey as a JWK, without the fields the key does not have. */
function toJwk(key: JsonWebKey): JWK {
  const { kty, kid, use, alg, crv, x, y } = key;
  return Object.fromEntries(Object.entries({ kty, kid, use, alg, crv, x, y }).filter(([, value]) => value !== "")) as JWK;
}

/** One upstream call that every concurrent caller waits on. */
interface SharedCall<T> {
  /** Waits for the call; the caller's signal ends only its own wait. */
  join(signal: AbortSignal | undefined, options?: { cancelWhenAbandoned: boolean }): Promise<T>;
}

/**
 * Starts `run` once for everyone who joins before it ends. By default the
 * call is cancelled when every caller waiting on it has aborted; `settled`
 * runs as soon as it may no longer be joined.
 */
function shareCall<T>(run: (signal: AbortSignal) => Promise<T>, settled: () => void): SharedCall<T> {
  const controller = new AbortController();
  const result = run(controller.signal);
  let open = true;
  const close = () => {
    if (open) settled();
    open = false;
  };
  result.then(close, close);
  let waiting = 0;
  return {
    async join(signal, { cancelWhenAbandoned } = { cancelWhenAbandoned: true }) {
      if (!signal) return result;
      waiting++;
      try {
        return await abortable(signal, result);
      } finally {
        waiting--;
        if (waiting === 0 && signal.aborted && cancelWhenAbandoned) {
          close();
          controller.abort();
        }
      }
    },
  };
}

/**
 * What a failed call to the users service means for the caller: its refusal
 * (UNAUTHENTICATED, with the upstream reason), or that credentials cannot be
 * checked right now. Only the caller's own abort passes through as is.
 */
function upstreamError(error: unknown, defaultReason: string, log: Logger | undefined): unknown {
  if (isAbortError(error)) return error;
  if (error instanceof ClientError && (error.code === Status.UNAUTHENTICATED || error.code === Status.INVALID_ARGUMENT)) {
    const details = error instanceof RichClientError ? error.extra : [];
    const reason = details.find((detail): detail is ErrorInfo => detail.$type === ErrorInfo.$type)?.reason || defaultReason;
    return new DomainError("unauthenticated", reason, error.details || "the credentials are not valid", { cause: error });
  }
  log?.warn({ err: error }, "the users service could not verify credentials");
  return new DomainError("unavailable", "AUTH_SERVICE_UNAVAILABLE", "cannot verify credentials right now; retry", {
    cause: error,
    retryAfterSeconds: 1,
  });
}
