import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { UserService, type TokenGrant } from "../gen/launchpad/user/v1/user_service_pb.js";
import { methodPath } from "../services/kit/grpc/service-definition.js";
import type { EdgeRequest, EdgeResponse } from "./http-server.js";
import { isTls } from "./protections/security-headers.js";

/**
 * The request header by which the web console asks for cookie mode
 * (`launchpad-session: cookie`). It is not among the CORS allowed headers,
 * so only pages of the edge's own origin can send it.
 */
const sessionHeader = "launchpad-session";

/** The HttpOnly cookie that holds the refresh token in cookie mode. */
const refreshCookie = "launchpad_refresh";

/** The cookie travels with UserService calls only, never with REST, docs or console requests. */
const cookiePath = `/${UserService.typeName}/`;

/** RFC 6265 cookie-octets: what may stand in a cookie value unquoted. */
const cookieOctets = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$/;

/** What cookie mode does around one method. */
interface SessionRule {
  /** The request's refresh_token comes from the cookie when empty, and UNAUTHENTICATED ends the cookie. */
  presentsToken: boolean;
  /** Success moves the response's refresh token into the cookie; without it, success clears the cookie. */
  grantsToken: boolean;
}

/** The only methods with a cookie mode. */
const rules = new Map<string, SessionRule>([
  [methodPath(UserService.method.login), { presentsToken: false, grantsToken: true }],
  [methodPath(UserService.method.refreshToken), { presentsToken: true, grantsToken: true }],
  [methodPath(UserService.method.logout), { presentsToken: true, grantsToken: false }],
]);

/** Cookie mode of one session method, for the Connect unary path. */
export interface CookieSession {
  /** Whether the request asks for cookie mode. */
  requested(req: EdgeRequest): boolean;
  /** Fills an empty refresh_token from the cookie; UNAUTHENTICATED when neither has one. */
  prepare(req: EdgeRequest, request: object): void;
  /** Sets or clears the cookie for a successful call, and takes the refresh token out of the response. */
  succeeded(req: EdgeRequest, res: EdgeResponse, response: object): void;
  /** Clears the cookie when the failure means the sign-in is over. */
  failed(req: EdgeRequest, res: EdgeResponse, error: ConnectError): void;
}

function cookieOf(req: EdgeRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

function setCookie(req: EdgeRequest, res: EdgeResponse, value: string, maxAgeSeconds: number | undefined): void {
  const maxAge = maxAgeSeconds === undefined ? "" : `; Max-Age=${maxAgeSeconds}`;
  const secure = isTls(req) ? "; Secure" : "";
  res.setHeader("set-cookie", `${refreshCookie}=${value}; Path=${cookiePath}; HttpOnly; SameSite=Strict${maxAge}${secure}`);
}

function clearCookie(req: EdgeRequest, res: EdgeResponse): void {
  setCookie(req, res, "", 0);
}

function createCookieSession(rule: SessionRule): CookieSession {
  return {
    requested: (req) => req.headers[sessionHeader] === "cookie",
    prepare(req, request) {
      if (!rule.presentsToken) return;
      const presented = request as { refreshToken: string };
      presented.refreshToken ||= cookieOf(req, refreshCookie) ?? "";
      if (!presented.refreshToken) throw new ConnectError("not signed in: no refresh token and no session cookie", Code.Unauthenticated);
    },
    succeeded(req, res, response) {
      if (!rule.grantsToken) return clearCookie(req, res);
      const tokens = (response as { tokens?: TokenGrant }).tokens;
      if (!tokens?.refreshToken) throw new ConnectError("the service granted no refresh token", Code.Internal);
      // A token that needed quoting could smuggle cookie attributes in.
      if (!cookieOctets.test(tokens.refreshToken)) throw new ConnectError("the refresh token cannot be stored in a cookie", Code.Internal);
      const expires = tokens.refreshTokenExpireTime;
      setCookie(req, res, tokens.refreshToken, expires && Math.max(0, Math.floor((timestampMs(expires) - Date.now()) / 1000)));
      tokens.refreshToken = "";
    },
    failed(req, res, error) {
      if (rule.presentsToken && error.code === Code.Unauthenticated) clearCookie(req, res);
    },
  };
}

/**
 * Cookie mode of a method path, for Login, RefreshToken and Logout of
 * UserService; undefined for every other method. In cookie mode the refresh
 * token lives in the `launchpad_refresh` cookie (HttpOnly, SameSite=Strict,
 * Path=/launchpad.user.v1.UserService/, Secure over TLS, Max-Age until the
 * token expires), out of reach of scripts:
 *
 * - Login and RefreshToken set it and answer with an empty refresh_token;
 * - RefreshToken and Logout take it when their refresh_token is empty;
 * - Logout clears it, and so does UNAUTHENTICATED from RefreshToken or Logout.
 */
export function cookieSessionOf(path: string): CookieSession | undefined {
  const rule = rules.get(path);
  return rule && createCookieSession(rule);
}
