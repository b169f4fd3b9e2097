/** The ErrorInfo domain of every Launchpad error. */
export const errorDomain = "launchpad.dev";

/**
 * What kind of failure a domain error is. Each maps to one gRPC code in
 * middleware/error-mapping.ts; domain code never imports gRPC.
 */
export type ErrorKind =
  | "invalid-argument"
  | "not-found"
  | "already-exists"
  | "permission-denied"
  | "unauthenticated"
  | "failed-precondition"
  | "aborted"
  | "resource-exhausted"
  | "unavailable";

/** One bad field of a request (google.rpc.BadRequest.FieldViolation). */
export interface FieldViolation {
  /** Dotted path of the field, in proto names, for example "user.email". */
  field: string;
  /** What is wrong with it, for people. */
  description: string;
  /** A stable UPPER_SNAKE reason, for programs. */
  reason?: string;
}

/** Optional parts of a domain error. */
export interface DomainErrorOptions {
  /** Bad fields, sent as google.rpc.BadRequest. */
  violations?: FieldViolation[];
  /** Extra facts for programs, sent as google.rpc.ErrorInfo metadata. */
  metadata?: Record<string, string>;
  /** How long to wait before retrying, sent as google.rpc.RetryInfo. */
  retryAfterSeconds?: number;
  /** The underlying error, for logs only; never sent to the client. */
  cause?: unknown;
}

/**
 * An expected failure with a stable reason. The reason is part of the
 * contract: clients switch on it, so it never changes once published.
 */
export class DomainError extends Error {
  override readonly name = "DomainError";
  readonly violations: FieldViolation[];
  readonly metadata: Record<string, string>;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly kind: ErrorKind,
    readonly reason: string,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.violations = options.violations ?? [];
    this.metadata = options.metadata ?? {};
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** An INVALID_ARGUMENT error for one or more bad fields. */
export function invalidArgument(reason: string, violations: FieldViolation[]): DomainError {
  const message = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  return new DomainError("invalid-argument", reason, message, { violations });
}
