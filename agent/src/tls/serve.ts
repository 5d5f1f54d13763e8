import type { Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";

/**
 * One port, both protocols: the first byte of a connection tells TLS (a handshake record, 0x16)
 * from plain HTTP. Both end up in the same HTTP server (fastify's), so every route, hook and the
 * token check are the same; only the transport differs. The operator keeps one URL and one
 * firewall rule, and HTTP stays available for a browser that refuses the self-signed certificate.
 */
export function dualProtocolServer(http: HttpServer, tls: { key: string; cert: string }): Server {
  const secure = createTlsServer({ key: tls.key, cert: tls.cert, minVersion: "TLSv1.2" });
  secure.on("secureConnection", (s: TLSSocket) => http.emit("connection", s));
  secure.on("tlsClientError", (_err, s) => s.destroy());
  const server = createNetServer({ pauseOnConnect: true }, (socket: Socket) => {
    socket.once("readable", () => {
      const first = socket.read(1) as Buffer | null;
      if (!first) {
        socket.destroy();
        return;
      }
      socket.unshift(first);
      (first[0] === 0x16 ? secure : http).emit("connection", socket);
    });
    socket.on("error", () => socket.destroy());
    socket.resume();
    socket.pause();
  });
  server.on("close", () => {
    secure.close();
  });
  return server;
}

export function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** IP addresses and names to put in the certificate (informational: clients pin the fingerprint). */
export function certificateNames(ifaces: NodeJS.Dict<{ address: string; internal: boolean }[]>): {
  ips: string[];
  dnsNames: string[];
} {
  const ips = Object.values(ifaces).flatMap((list) => (list ?? []).map((a) => a.address));
  return { ips: [...new Set(ips)], dnsNames: ["lifeboat.local", "localhost"] };
}
