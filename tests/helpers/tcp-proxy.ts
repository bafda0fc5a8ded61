/**
 * A TCP proxy between a daemon and a real PostgreSQL, to stage outages:
 *
 * - cut: every open connection is closed and new ones are refused (the
 *   listener closes), as when the database host goes away;
 * - hang: connections stay open but nothing is forwarded (new ones are
 *   accepted and held), as in a network partition or a frozen server;
 * - restore: forwarding resumes. After a hang, the bytes held back are
 *   delivered, as TCP does once a partition heals; after a cut, the listener
 *   comes back on the same port.
 *
 * It counts what clients send, so a test can tell that a daemon did not even
 * try to reach the database (its circuit breaker was open).
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export type ProxyMode = "forward" | "cut" | "hang";

export interface TcpProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  mode(): ProxyMode;
  cut(): Promise<void>;
  hang(): void;
  restore(): Promise<void>;
  /** Bytes received from clients so far (forwarded or held). */
  bytesFromClients(): number;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket | null;
  /** Sends what was held back and forwards again. */
  flush(): void;
}

export async function startTcpProxy(target: {
  host: string;
  port: number;
}): Promise<TcpProxy> {
  let mode: ProxyMode = "forward";
  let bytes = 0;
  let accepted = 0;
  const pairs = new Set<Pair>();

  const openUpstream = (pair: Pair) => {
    const upstream = connect({ host: target.host, port: target.port });
    pair.upstream = upstream;
    upstream.on("data", (chunk) => {
      if (!pair.client.write(chunk)) upstream.pause();
    });
    pair.client.on("drain", () => {
      if (mode === "forward") upstream.resume();
    });
    upstream.on("error", () => pair.client.destroy());
    upstream.on("close", () => {
      pair.client.destroy();
      pairs.delete(pair);
    });
  };

  const onConnection = (client: Socket) => {
    accepted++;
    const held: Buffer[] = [];
    const pair: Pair = {
      client,
      upstream: null,
      flush() {
        if (!pair.upstream) openUpstream(pair);
        for (const chunk of held.splice(0)) pair.upstream?.write(chunk);
        pair.upstream?.resume();
      },
    };
    pairs.add(pair);
    // Clients are always read (and counted); in a hang their bytes are held.
    client.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (pair.upstream && mode === "forward") pair.upstream.write(chunk);
      else held.push(chunk);
    });
    client.on("error", () => pair.upstream?.destroy());
    client.on("close", () => {
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    if (mode === "forward") openUpstream(pair);
  };

  let server: Server = createServer(onConnection);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
    });
  const port = await listen(0);

  return {
    port,
    via(url) {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    mode: () => mode,
    async cut() {
      mode = "cut";
      const closed = stopListening();
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      pairs.clear();
      await closed;
    },
    hang() {
      mode = "hang";
      for (const p of pairs) p.upstream?.pause();
    },
    async restore() {
      const wasCut = mode === "cut";
      mode = "forward";
      if (wasCut) {
        server = createServer(onConnection);
        await listen(port);
        return;
      }
      for (const p of pairs) p.flush();
    },
    bytesFromClients: () => bytes,
    accepted: () => accepted,
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      pairs.clear();
      if (server.listening) await stopListening();
    },
  };
}
