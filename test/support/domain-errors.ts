import { DomainError } from "../../services/kit/errors.js";

/** Resolves to the DomainError `promise` rejects with; throws if it resolves or rejects with anything else. */
export async function domainError(promise: Promise<unknown>): Promise<DomainError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error;
}
