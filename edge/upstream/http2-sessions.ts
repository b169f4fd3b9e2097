import { connect, type ClientHttp2Session } from "node:http2";

/**
 * One HTTP/2 connection per upstream address, opened on first use and
 * reopened after it closes or fails; grpc-js servers accept any number of
 * concurrent streams on it.
 */
export function createSessionPool() {
  const sessions = new Map<string, ClientHttp2Session>();
  return {
    session(address: string): ClientHttp2Session {
      const open = sessions.get(address);
      if (open && !open.closed && !open.destroyed) return open;
      const session = connect(`http://${address}`, { settings: { enablePush: false } });
      const forget = () => {
        if (sessions.get(address) === session) sessions.delete(address);
      };
      session.on("close", forget);
      session.on("error", forget);
      session.on("goaway", forget);
      // Idle sessions must not keep the process alive.
      session.unref();
      sessions.set(address, session);
      return session;
    },
    close(): void {
      for (const session of sessions.values()) session.close();
      sessions.clear();
    },
  };
}
