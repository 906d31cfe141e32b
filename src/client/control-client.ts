/**
 * The client side of the control socket (CLI commands, check-and-run). A daemon that is not there is a
 * distinct, scriptable outcome (exit 69), not a stack trace.
 */
import http from 'node:http';
import { ExitCode, InferEntryError, UnavailableError, errnoCode } from '../errors.js';
import { errorFromBody, isErrorBody } from '../control/api.js';
import { checkSocketPathLength } from '../control/socket-file.js';

export interface DaemonResponse<T> {
  status: number;
  body: T;
}

export function daemonUnavailable(socketPath: string, cause?: unknown): UnavailableError {
  const code = errnoCode(cause);
  const why = code === 'EACCES' ? 'permission denied' : code === 'ENOENT' || code === undefined ? 'no such socket' : code;
  return new UnavailableError('E_NO_DAEMON', `no infer-entry daemon reachable on ${socketPath} (${why})`, {
    hint:
      code === 'EACCES'
        ? "the socket is owner-only (0600): run as the daemon's user"
        : "start it with 'infer-entry boot' (the image's entrypoint), or set INFER_ENTRY_ROOT / INFER_ENTRY_SOCKET to the daemon's",
    cause,
  });
}

function open(socketPath: string, method: string, path: string, body: unknown, signal?: AbortSignal): Promise<http.IncomingMessage> {
  // The kernel would cut the path and the connect would name a socket nobody asked for: the same
  // refusal as the daemon's, so the client says why instead of "no daemon".
  checkSocketPathLength(socketPath);
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        ...(signal ? { signal } : {}),
      },
      resolve,
    );
    req.once('error', (error) => {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES' || code === 'ENOTSOCK') reject(daemonUnavailable(socketPath, error));
      else if (signal?.aborted) reject(error);
      else
        reject(
          new InferEntryError('E_DAEMON_IO', ExitCode.UNAVAILABLE, `talking to the daemon on ${socketPath} failed (${code ?? error.message})`, {
            hint: "check the daemon's log; it may have stopped",
            cause: error,
          }),
        );
    });
    req.end(payload);
  });
}

async function readAll(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** The error an error answer stands for: the daemon's own error when its body carries one. */
function errorFromAnswer(body: unknown, method: string, path: string, status: number | undefined): InferEntryError {
  if (isErrorBody(body)) return errorFromBody(body);
  return new InferEntryError('E_DAEMON_PROTOCOL', ExitCode.SOFTWARE, `the daemon answered ${method} ${path} with HTTP ${status}`);
}

/** One JSON request. Error answers are thrown as the daemon's InferEntryError unless `acceptStatus` lists them. */
export async function requestJson<T>(
  socketPath: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  options: { acceptStatus?: number[]; signal?: AbortSignal } = {},
): Promise<DaemonResponse<T>> {
  const res = await open(socketPath, method, path, body, options.signal);
  const text = await readAll(res);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InferEntryError('E_DAEMON_PROTOCOL', ExitCode.SOFTWARE, `the daemon answered ${method} ${path} with non-JSON (HTTP ${res.statusCode})`, {
      hint: 'is INFER_ENTRY_SOCKET pointing at an infer-entry daemon?',
    });
  }
  const status = res.statusCode ?? 0;
  if (status >= 400 && !(options.acceptStatus ?? []).includes(status)) throw errorFromAnswer(parsed, method, path, status);
  return { status, body: parsed as T };
}

/** A streaming text answer (logs -f): each chunk is written to `out` as it arrives. */
export async function streamText(socketPath: string, path: string, out: NodeJS.WritableStream, signal?: AbortSignal): Promise<void> {
  const res = await open(socketPath, 'GET', path, undefined, signal);
  if ((res.statusCode ?? 0) >= 400) {
    const text = await readAll(res);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    throw errorFromAnswer(parsed, 'GET', path, res.statusCode);
  }
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) out.write(chunk);
  } catch (error) {
    if (signal?.aborted) return;
    // The daemon stopping cuts a followed stream short: that is its end, not a failure of ours.
    throw new InferEntryError('E_DAEMON_GONE', ExitCode.UNAVAILABLE, `the daemon on ${socketPath} closed the stream`, {
      hint: 'it is stopping or was restarted; check it with infer-entry status',
      cause: error,
    });
  }
}
