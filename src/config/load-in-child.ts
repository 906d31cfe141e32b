/**
 * loadConfig in a child process. Parsing and checking a large config takes seconds (tens of
 * thousands of instances); on the daemon's main thread that would stall the control socket and the
 * health probes for as long, so every load the daemon does (boot, reload, SIGHUP) runs in a process
 * of its own, off its event loop. A process rather than a worker thread: a thread's malloc arena
 * (with zod's and the parser's freed memory) stayed resident in the daemon after the thread ended,
 * ~2.5 MB of its steady RSS (bench/README.md, section soak); a process gives it all back.
 */
import { fork } from 'node:child_process';
import { rebuiltError, type LoadMessage } from './load-message.js';
import type { LoadOptions } from './load.js';
import type { LoadChildData } from './load-child.js';
import type { LoadedConfig } from './types.js';

const CHILD = new URL('./load-child.js', import.meta.url);

export interface LoadInChildOptions extends LoadOptions {
  /** Stops the loader process: the load rejects with the signal's reason. */
  signal?: AbortSignal;
}

export async function loadConfigInChild(file: string, options: LoadInChildOptions): Promise<LoadedConfig> {
  const { signal, ...loadOptions } = options;
  signal?.throwIfAborted();
  // Run from the TypeScript sources (the unit tests), there is no compiled loader to start: load here.
  if (import.meta.url.endsWith('.ts')) return (await import('./load.js')).loadConfig(file, loadOptions);
  const data: LoadChildData = { file, options: { ...loadOptions, env: { ...loadOptions.env }, paths: { ...loadOptions.paths } } };
  // The options (the environment included, which may hold keys) go through the IPC channel, never
  // argv. V8's defaults (no daemon flags, no --inspect of the daemon's), its own process group so a
  // Ctrl-C on the terminal that boot leaves to the CMD does not reach it, structured clone as
  // postMessage did.
  const loader = fork(CHILD, [], { execArgv: [], detached: true, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise<LoadedConfig>((resolve, reject) => {
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      finish();
    };
    const onAbort = () => {
      settle(() => reject(signal!.reason));
      loader.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    loader.once('message', (message: LoadMessage) => settle(() => (message.ok ? resolve(message.config) : reject(rebuiltError(message.error)))));
    loader.once('error', (error) => settle(() => reject(error)));
    // 'close', not 'exit': it comes after the IPC channel has delivered everything the loader sent.
    loader.once('close', (code, killedBy) => settle(() => reject(new Error(`the config loader exited (${killedBy ?? `code ${code}`}) before answering`))));
    loader.send(data);
  });
}
