import { Code, ConnectError } from "@connectrpc/connect";
import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorInfoSchema } from "../../../../gen/google/rpc/error_details_pb.js";
import { runResumableWatch, type RevisionMessage, type WatchStatus } from "../lib/resumable-watch.js";

function isExpired(error: unknown): boolean {
  const connectError = ConnectError.from(error);
  return (
    connectError.code === Code.FailedPrecondition &&
    connectError.findDetails(ErrorInfoSchema).some((info) => info.reason === "RESUME_REVISION_EXPIRED")
  );
}

/** Errors a retry cannot fix: the watch stops and shows them. */
const permanentCodes = new Set([Code.NotFound, Code.PermissionDenied, Code.InvalidArgument, Code.FailedPrecondition, Code.Unimplemented]);

function isPermanent(error: unknown): boolean {
  return permanentCodes.has(ConnectError.from(error).code);
}

/** Handlers of one live watch; read on every message, so they may close over the latest render. */
export interface LiveWatchHandlers<M extends RevisionMessage> {
  open(resumeRevision: bigint, signal: AbortSignal): AsyncIterable<M>;
  onMessage(message: M): void;
  onReset?(): void;
  onStopped?(error: unknown): void;
}

/**
 * Runs a resumable watch while the component is mounted and `key` is the
 * same (a new key, such as a new filter, starts a new watch); its status.
 */
export function useLiveWatch<M extends RevisionMessage>(key: string, handlers: LiveWatchHandlers<M>): WatchStatus {
  const [status, setStatus] = useState<WatchStatus>("connecting");
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    const controller = new AbortController();
    void runResumableWatch<M>({
      open: (revision, signal) => latest.current.open(revision, signal),
      onMessage: (message) => latest.current.onMessage(message),
      onReset: () => latest.current.onReset?.(),
      onStopped: (error) => latest.current.onStopped?.(error),
      onStatus: setStatus,
      isExpired,
      isPermanent,
      signal: controller.signal,
    });
    return () => controller.abort();
  }, [key]);
  return status;
}
