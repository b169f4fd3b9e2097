import { rmSync } from "node:fs";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { createChannel, type Channel, type Client } from "nice-grpc";
import type { NiceServiceDefinition } from "../../services/kit/grpc/service-definition.js";
import type { Logger } from "../../services/kit/logger.js";
import type { ServingPart } from "../../services/kit/serve-part.js";
import { capturedLogger } from "./captured-logger.js";
import { typedClient } from "./typed-client.js";

/** A service started in this process, a typed client of it on its own channel, and its captured logs. */
export interface InProcessService<Running extends ServingPart, S extends GenServiceMethods> {
  running: Running;
  /** 127.0.0.1:<port>. */
  address: string;
  channel: Channel;
  client: Client<NiceServiceDefinition<S>>;
  logs: string[];
  /** Closes the channel, stops the service and deletes its data directory. */
  stop(): Promise<void>;
}

/**
 * Starts a service in this process with a captured logger for `part`, and
 * connects a typed client of `service` to it; stop() also deletes
 * `dataDir`, the directory the service was configured with.
 */
export async function startInProcess<Running extends ServingPart, S extends GenServiceMethods>(
  part: string,
  service: GenService<S>,
  dataDir: string,
  start: (logger: Logger) => Promise<Running>,
): Promise<InProcessService<Running, S>> {
  const { logger, lines: logs } = capturedLogger(part);
  const running = await start(logger);
  const address = `127.0.0.1:${running.port}`;
  const channel = createChannel(address);
  return {
    running,
    address,
    channel,
    client: typedClient(service, channel),
    logs,
    async stop() {
      channel.close();
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
