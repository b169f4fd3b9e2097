import type { CallContext, ServerMiddleware, ServerMiddlewareCall } from "nice-grpc-common";

/**
 * Something a call must pass before its handler runs: it throws to refuse
 * the call, or returns what it adds to the call context (or nothing).
 */
export type CallCheck<Ext extends object = {}, Required extends object = {}> = (
  call: ServerMiddlewareCall<unknown, unknown>,
  context: CallContext & Required,
) => Ext | void | Promise<Ext | void>;

/**
 * Runs checks in order, each seeing what the earlier ones added to the
 * context, then the rest of the call, as one middleware. A middleware per
 * check would cost each call a generator frame, a copy of the call object
 * and several microtask turns per check, for checks that only look at the
 * call before it starts. Streams are checked the same way, before their
 * first message.
 */
export function checksMiddleware<A extends object, R extends object = {}>(first: CallCheck<A, R>): ServerMiddleware<A, R>;
export function checksMiddleware<A extends object, B extends object, C extends object, R extends object = {}>(
  first: CallCheck<A, R>,
  second: CallCheck<B, R & A>,
  third: CallCheck<C, R & A & B>,
): ServerMiddleware<A & B & C, R>;
export function checksMiddleware(...checks: CallCheck<object, any>[]): ServerMiddleware<object, any> {
  return async function* checked<Request, Response>(call: ServerMiddlewareCall<Request, Response, object>, context: CallContext) {
    let checkedContext = context;
    for (const check of checks) {
      const added = await check(call as ServerMiddlewareCall<unknown, unknown>, checkedContext);
      if (added) checkedContext = { ...checkedContext, ...added };
    }
    return yield* call.next(call.request, checkedContext);
  };
}
