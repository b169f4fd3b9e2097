/** What a request handler of a benchmark child returns: the reply, sent back with its `type`. */
export type RequestHandler = (message: any) => Promise<{ type: string }>;

/**
 * Inside a benchmark child: answers the parent's PinnedChild.request()
 * messages whose type has a handler, with the handler's reply, or with
 * "request-failed" and the error when it throws. Other messages (stop,
 * profiling) are left to their own listeners.
 */
export function serveRequests(handlers: Readonly<Record<string, RequestHandler>>): void {
  process.on("message", (message: { type?: string }) => {
    const handler = message.type === undefined ? undefined : handlers[message.type];
    if (handler === undefined) return;
    handler(message).then(
      (reply) => process.send?.(reply),
      (error: unknown) => process.send?.({ type: "request-failed", error: error instanceof Error ? error.stack ?? error.message : String(error) }),
    );
  });
}
