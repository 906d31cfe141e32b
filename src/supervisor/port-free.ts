/**
 * Is a TCP port free? Answered by binding it the way llama-server will (same
 * host), so "in use" means llama-server would fail with "couldn't bind".
 */
import net from 'node:net';

export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      // Only EADDRINUSE is a verdict; other errors (EADDRNOTAVAIL, EACCES) are left for llama-server to report.
      resolve(error.code !== 'EADDRINUSE');
    });
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}
