import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorFromJson } from "@connectrpc/connect/protocol-connect";
import { describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { errorText } from "../../edge/console/src/lib/error-text.js";

const domain = "launchpad.dev";

/** The ErrorInfo detail for `reason`, with `metadata`. */
function errorInfo(reason: string, metadata: Record<string, string> = {}) {
  return { desc: ErrorInfoSchema, value: { reason, domain, metadata } };
}

/** The BadRequest detail listing `violations` as [field, description] pairs. */
function badRequest(...violations: [string, string][]) {
  return {
    desc: BadRequestSchema,
    value: { fieldViolations: violations.map(([field, description]) => ({ field, description, reason: "INVALID" })) },
  };
}

/** An error as a Connect client reads it from a response body: details arrive as binary google.protobuf.Any values. */
function fromTheWire<Desc extends DescMessage>(code: string, message: string, details: { desc: Desc; value: MessageInitShape<Desc> }[]) {
  const json = {
    code,
    message,
    details: details.map(({ desc, value }) => ({ type: desc.typeName, value: base64Encode(toBinary(desc, create(desc, value)), "std_raw") })),
  };
  return errorFromJson(json, undefined, new ConnectError("not a Connect error", Code.Internal));
}

const etagSentence = "Someone else changed this since you opened it. Nothing was saved: reload to see their change, then edit again.";

describe("errorText", () => {
  describe("reasons written for people", () => {
    it("explains ETAG_MISMATCH instead of showing the server's message", () => {
      const error = new ConnectError('deployment "abc" was changed since it was read; read it again', Code.Aborted, undefined, [
        errorInfo("ETAG_MISMATCH"),
      ]);
      expect(errorText(error)).toStrictEqual({ text: etagSentence, reason: "ETAG_MISMATCH" });
    });

    it("explains LAST_ADMIN instead of showing the server's message", () => {
      const error = new ConnectError("refusing to leave no active admin", Code.FailedPrecondition, undefined, [errorInfo("LAST_ADMIN")]);
      expect(errorText(error)).toStrictEqual({ text: "This is the last admin: make someone else an admin first.", reason: "LAST_ADMIN" });
    });

    it("prefers the reason's sentence to the code's and to field violations", () => {
      const error = new ConnectError("changed", Code.Unavailable, undefined, [errorInfo("ETAG_MISMATCH"), badRequest(["etag", "stale"])]);
      expect(errorText(error).text).toBe(etagSentence);
    });
  });

  describe("the resource an error is about", () => {
    it("keeps the deployment named in ErrorInfo metadata, with the server's message and the reason", () => {
      const message = "api already has an unfinished deployment in prod: deployments/abc";
      const error = new ConnectError(message, Code.Aborted, undefined, [
        errorInfo("DEPLOYMENT_IN_PROGRESS", { deployment: "deployments/abc", service: "api" }),
      ]);
      expect(errorText(error)).toStrictEqual({ text: message, deployment: "deployments/abc", reason: "DEPLOYMENT_IN_PROGRESS" });
    });

    it("names no deployment when the metadata has none", () => {
      const error = new ConnectError("nope", Code.FailedPrecondition, undefined, [errorInfo("SOME_RULE", { service: "api" })]);
      expect(errorText(error)).not.toHaveProperty("deployment");
      expect(errorText(error)).toStrictEqual({ text: "nope", reason: "SOME_RULE" });
    });

    it("names no deployment and no reason for an error without ErrorInfo", () => {
      const text = errorText(new ConnectError("no such deployment", Code.NotFound));
      expect(text).toStrictEqual({ text: "no such deployment" });
    });
  });

  describe("invalid requests", () => {
    it("lists each field violation as field: description, joined with semicolons", () => {
      const error = new ConnectError("invalid request", Code.InvalidArgument, undefined, [
        errorInfo("INVALID_ARGUMENT"),
        badRequest(["service", "must not be empty"], ["version", "must be at most 64 characters"]),
      ]);
      expect(errorText(error)).toStrictEqual({
        text: "service: must not be empty; version: must be at most 64 characters",
        reason: "INVALID_ARGUMENT",
      });
    });

    it("lists violations of a request without ErrorInfo too", () => {
      const error = new ConnectError("invalid request", Code.InvalidArgument, undefined, [badRequest(["filter", 'unknown field "colour"'])]);
      expect(errorText(error)).toStrictEqual({ text: 'filter: unknown field "colour"' });
    });

    it("keeps the server's message when BadRequest lists no violations", () => {
      const error = new ConnectError("invalid page token", Code.InvalidArgument, undefined, [badRequest()]);
      expect(errorText(error).text).toBe("invalid page token");
    });
  });

  describe("codes", () => {
    it("gives a sentence for the codes a person can act on", () => {
      const expected: [Code, string][] = [
        [Code.Unavailable, "Launchpad cannot be reached right now. Try again in a moment."],
        [Code.DeadlineExceeded, "Launchpad took too long to answer. Try again."],
        [Code.PermissionDenied, "You are not allowed to do that."],
        [Code.Unauthenticated, "Your sign-in has ended. Sign in again."],
      ];
      for (const [code, text] of expected) {
        expect(errorText(new ConnectError("upstream connect error", code)), Code[code]).toStrictEqual({ text });
      }
    });

    it("uses the code's sentence for a reason that has none, and still returns the reason", () => {
      const error = new ConnectError("caller lacks deployments.create", Code.PermissionDenied, undefined, [errorInfo("PERMISSION_DENIED")]);
      expect(errorText(error)).toStrictEqual({ text: "You are not allowed to do that.", reason: "PERMISSION_DENIED" });
    });

    it("lists field violations rather than the code's sentence", () => {
      const error = new ConnectError("invalid", Code.PermissionDenied, undefined, [badRequest(["environment", "not yours"])]);
      expect(errorText(error).text).toBe("environment: not yours");
    });
  });

  describe("anything else", () => {
    it("keeps the server's message, without the code in front", () => {
      const error = new ConnectError('deployment "abc" not found', Code.NotFound);
      expect(error.message).not.toBe(error.rawMessage);
      expect(errorText(error)).toStrictEqual({ text: 'deployment "abc" not found' });
    });

    it("keeps the message of an error that is not a ConnectError", () => {
      expect(errorText(new TypeError("Failed to fetch"))).toStrictEqual({ text: "Failed to fetch" });
    });

    it("describes a thrown value that is not an error by its text", () => {
      expect(errorText("something odd")).toStrictEqual({ text: "something odd" });
    });
  });

  describe("errors as they arrive from the server", () => {
    it("reads ErrorInfo from the response body's binary details", () => {
      const error = fromTheWire("aborted", "api already has an unfinished deployment in prod: deployments/abc", [
        errorInfo("DEPLOYMENT_IN_PROGRESS", { deployment: "deployments/abc" }),
      ]);
      expect(errorText(error)).toStrictEqual({
        text: "api already has an unfinished deployment in prod: deployments/abc",
        deployment: "deployments/abc",
        reason: "DEPLOYMENT_IN_PROGRESS",
      });
    });

    it("reads ETAG_MISMATCH and field violations from the response body", () => {
      expect(errorText(fromTheWire("aborted", "changed", [errorInfo("ETAG_MISMATCH")])).text).toBe(etagSentence);
      expect(errorText(fromTheWire("invalid_argument", "invalid", [badRequest(["page_size", "must be positive"])])).text).toBe(
        "page_size: must be positive",
      );
    });
  });
});
