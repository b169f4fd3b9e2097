import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";

/** A port nothing listens on right now (the kernel's pick), so a process's settings can name the port it will use. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
