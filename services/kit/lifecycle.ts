import { once } from "node:events";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "./logger.js";

/** A running part of the program that can be stopped. */
export interface RunningPart {
  name: string;
  stop(): Promise<void>;
}

/** Starts an HTTP server on host:port and returns the bound port. */
export async function listenHttp(server: HttpServer, host: string, port: number): Promise<number> {
  server.listen(port, host);
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** Closes an HTTP server, ending idle keep-alive connections at once. */
export async function closeHttp(server: HttpServer): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
}

/**
 * Stops every part, last started first, on SIGTERM or SIGINT; a second
 * signal exits at once.
 */
export function stopOnSignals(parts: RunningPart[], logger: Logger): void {
  let stopping = false;
  const onSignal = async (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    logger.info({ signal }, "shutting down");
    for (const part of [...parts].reverse()) {
      try {
        await part.stop();
      } catch (error) {
        logger.error({ err: error, part: part.name }, "stopping failed");
      }
    }
    process.exit(0);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
