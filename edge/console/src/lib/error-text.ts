import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../../../../gen/google/rpc/error_details_pb.js";

/** An API error as the console shows it: a sentence, and the resource it names, if any. */
export interface ErrorText {
  text: string;
  /** A deployment the error is about, such as the running one that blocked a create. */
  deployment?: string;
  /** The ErrorInfo reason, the stable part of the contract. */
  reason?: string;
}

/** Sentences for reasons whose server message is written for API users rather than for a person at a screen. */
const sentences: Record<string, string> = {
  INVALID_CREDENTIALS: "Wrong email or password.",
  ETAG_MISMATCH: "Someone else changed this since you opened it. Nothing was saved: reload to see their change, then edit again.",
  LAST_ADMIN: "This is the last admin: make someone else an admin first.",
};

const byCode: Partial<Record<Code, string>> = {
  [Code.Unavailable]: "Launchpad cannot be reached right now. Try again in a moment.",
  [Code.DeadlineExceeded]: "Launchpad took too long to answer. Try again.",
  [Code.PermissionDenied]: "You are not allowed to do that.",
  [Code.Unauthenticated]: "Your sign-in has ended. Sign in again.",
};

/** Describes any error from a call in words, keeping the server's own message where it is written for people. */
export function errorText(error: unknown): ErrorText {
  const connectError = ConnectError.from(error);
  const info = connectError.findDetails(ErrorInfoSchema)[0];
  const reason = info?.reason;
  const violations = connectError.findDetails(BadRequestSchema)[0]?.fieldViolations ?? [];
  const sentence = reason && Object.hasOwn(sentences, reason) ? sentences[reason] : undefined;
  let text = sentence ?? byCode[connectError.code] ?? connectError.rawMessage;
  if (violations.length > 0 && !sentence) {
    text = violations.map((violation) => `${violation.field}: ${violation.description}`).join("; ");
  }
  const deployment = info?.metadata["deployment"];
  return { text, ...(deployment ? { deployment } : {}), ...(reason ? { reason } : {}) };
}
