import { ClientError, Status } from "nice-grpc";
import { BadRequest, ErrorInfo, RichClientError } from "nice-grpc-error-details";
import { expect } from "vitest";

/** What a failed call carried: its code, ErrorInfo reason and BadRequest fields. */
export interface CallFailure {
  code: Status;
  message: string;
  reason: string | undefined;
  metadata: Record<string, string>;
  fields: string[];
}

/** Awaits a call that must fail, and returns what the failure carried. */
export async function failureOf(call: Promise<unknown>): Promise<CallFailure> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    const extra = error instanceof RichClientError ? error.extra : [];
    const info = extra.find((d): d is ErrorInfo => d.$type === ErrorInfo.$type);
    const badRequest = extra.find((d): d is BadRequest => d.$type === BadRequest.$type);
    return {
      code: error.code,
      message: error.details,
      reason: info?.reason,
      metadata: info?.metadata ?? {},
      fields: badRequest?.fieldViolations.map((v) => v.field) ?? [],
    };
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** Asserts a call fails with this code and, when given, this ErrorInfo reason. */
export async function expectGrpcError(call: Promise<unknown>, code: Status, reason?: string): Promise<CallFailure> {
  const failure = await failureOf(call);
  expect({ code: failure.code, reason: failure.reason }).toEqual({ code, reason: reason ?? failure.reason });
  return failure;
}

/** "OK", or the code and ErrorInfo reason (and, when asked, the message) a call failed with. */
export async function outcomeOf(call: Promise<unknown>, options: { withMessage?: boolean } = {}): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (error) {
    const failure = await failureOf(Promise.reject(error));
    const outcome = `${Status[failure.code]} ${failure.reason}`;
    return options.withMessage ? `${outcome} ${failure.message}` : outcome;
  }
}
