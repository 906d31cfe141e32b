/**
 * The control socket file: one daemon per socket. A socket left behind by a
 * daemon that died (SIGKILL, OOM) is replaced; one that still answers means a
 * daemon is running, and a second one must not steal its socket.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { CannotCreateError, TempFailError, errnoCode } from '../errors.js';

/** Connect to the socket; true when something accepts the connection. */
export function socketIsLive(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path: socketPath });
    const done = (live: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(live);
    };
    // A daemon too busy to accept within the timeout is still alive: do not steal its socket.
    const timer = setTimeout(() => done(true), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** sun_path holds 108 bytes with the final NUL; a longer path is cut by the kernel (a stray socket elsewhere). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Pure check before anything is created: a path the kernel would truncate is refused whole. */
export function checkSocketPathLength(socketPath: string): void {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new CannotCreateError('E_SOCKET_PATH_TOO_LONG', `control socket path ${socketPath} is ${bytes} bytes, longer than the kernel's limit of ${MAX_SOCKET_PATH_BYTES} bytes for a Unix socket path`, {
      hint: 'set INFER_ENTRY_SOCKET (or INFER_ENTRY_ROOT) to a shorter path',
    });
  }
}

/** Make the socket path free for this daemon, or explain why it cannot be. */
export async function claimSocketPath(socketPath: string): Promise<void> {
  checkSocketPathLength(socketPath);
  const dir = path.dirname(socketPath);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new CannotCreateError('E_SOCKET_DIR', `cannot create the control socket directory ${dir} (${errnoCode(error) ?? String(error)})`, {
      hint: 'make INFER_ENTRY_ROOT writable or set INFER_ENTRY_SOCKET to a writable path',
      cause: error,
    });
  }
  let stat;
  try {
    stat = await fs.lstat(socketPath);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw new CannotCreateError('E_SOCKET_PATH', `cannot inspect ${socketPath} (${errnoCode(error) ?? String(error)})`, { cause: error });
  }
  if (!stat.isSocket()) {
    throw new CannotCreateError('E_SOCKET_PATH', `control socket path ${socketPath} exists and is not a socket`, {
      hint: 'remove that file or set INFER_ENTRY_SOCKET to another path',
    });
  }
  if (await socketIsLive(socketPath)) {
    throw new TempFailError('E_DAEMON_RUNNING', `another infer-entry daemon is already listening on ${socketPath}`, {
      hint: "use 'infer-entry status' to talk to it, or stop it first",
    });
  }
  await fs.rm(socketPath, { force: true });
}

/**
 * Listen on a Unix socket that only the owner can connect to. The umask is
 * narrowed around bind so no other user can connect in the instant before chmod.
 */
export async function listenOwnerOnly(server: net.Server, socketPath: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      reject(
        new CannotCreateError('E_SOCKET_LISTEN', `cannot listen on the control socket ${socketPath} (${errnoCode(error) ?? error.message})`, {
          hint: 'check that the directory is writable (or set INFER_ENTRY_SOCKET)',
          cause: error,
        }),
      );
    };
    server.once('error', onError);
    const previous = process.umask(0o177);
    try {
      server.listen(socketPath, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
  await fs.chmod(socketPath, 0o600);
}
