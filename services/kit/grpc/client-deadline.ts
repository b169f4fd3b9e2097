import { delay, isAbortError } from "abort-controller-x";
import { ClientError, Status, type CallOptions, type ClientMiddleware, type ClientMiddlewareCall } from "nice-grpc-common";

/** Call options the deadline middleware reads; each call may override the defaults. */
export type DeadlineCallOptions = {
  /** The whole call, retries included, fails with DEADLINE_EXCEEDED after this many milliseconds. */
  timeoutMs?: number;
  /** Further attempts after an UNAVAILABLE answer; 0 means none. */
  retries?: number;
  /** Wait before the first retry; each later retry waits twice as long. */
  backoffMs?: number;
};

/**
 * Gives every unary call a deadline and retries it on UNAVAILABLE within
 * that deadline (the server never saw or never finished such a call). When
 * the deadline passes the call is cancelled and fails with DEADLINE_EXCEEDED;
 * when the caller's own signal aborts, it fails with the AbortError as
 * usual. Streaming calls pass through untouched: a watch has no deadline.
 */
export function createDeadlineMiddleware(defaults: Required<DeadlineCallOptions>): ClientMiddleware<DeadlineCallOptions> {
  return async function* deadline<Request, Response>(
    call: ClientMiddlewareCall<Request, Response>,
    options: CallOptions & DeadlineCallOptions,
  ) {
    const { timeoutMs = defaults.timeoutMs, retries = defaults.retries, backoffMs = defaults.backoffMs, ...rest } = options;
    if (call.requestStream || call.responseStream) return yield* call.next(call.request, rest);

    const controller = new AbortController();
    const onAbort = () => controller.abort();
    rest.signal?.addEventListener("abort", onAbort);
    if (rest.signal?.aborted) controller.abort();
    const endsAt = Date.now() + timeoutMs;
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      controller.abort();
    }, timeoutMs);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return yield* call.next(call.request, { ...rest, signal: controller.signal });
        } catch (error) {
          const wait = backoffMs * 2 ** attempt;
          const retryable = error instanceof ClientError && error.code === Status.UNAVAILABLE;
          if (!retryable || attempt >= retries || Date.now() + wait >= endsAt) throw error;
          await delay(controller.signal, wait);
        }
      }
    } catch (error) {
      if (expired && isAbortError(error)) {
        throw new ClientError(call.method.path, Status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`);
      }
      throw error;
    } finally {
      clearTimeout(timer);
      rest.signal?.removeEventListener("abort", onAbort);
    }
  };
}
