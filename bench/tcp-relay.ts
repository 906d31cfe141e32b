/**
 * The floor of any Node proxy: each client connection piped byte for byte to its own upstream
 * connection, no HTTP parsing, no routing (bench/router.ts runs it beside the router). Prints
 * `{"port":N}` once listening. Argument: the upstream port on 127.0.0.1.
 */
import net from 'node:net';

const upstreamPort = Number(process.argv[2]);
const server = net.createServer((client) => {
  const upstream = net.connect(upstreamPort, '127.0.0.1');
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  for (const socket of [client, upstream]) socket.once('error', close).once('close', close);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
