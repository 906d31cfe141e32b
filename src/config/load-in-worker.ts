/**
 * loadConfig in a worker thread. Parsing and checking a large config takes
 * seconds (tens of thousands of instances); on the daemon's main thread that
 * would stall the control socket and the health probes for as long, so every
 * load the daemon does (boot, reload, SIGHUP) runs here, off its event loop.
 */
import { Worker } from 'node:worker_threads';
import { rebuiltError, type LoadMessage } from './load-message.js';
import type { LoadOptions } from './load.js';
import type { LoadWorkerData } from './load-worker.js';
import type { LoadedConfig } from './types.js';

const WORKER = new URL('./load-worker.js', import.meta.url);

export interface LoadInWorkerOptions extends LoadOptions {
  /** Stops the worker: the load rejects with the signal's reason. */
  signal?: AbortSignal;
}

export async function loadConfigInWorker(file: string, options: LoadInWorkerOptions): Promise<LoadedConfig> {
  const { signal, ...loadOptions } = options;
  signal?.throwIfAborted();
  // Run from the TypeScript sources (the unit tests), there is no compiled worker to start: load here.
  if (import.meta.url.endsWith('.ts')) return (await import('./load.js')).loadConfig(file, loadOptions);
  const data: LoadWorkerData = { file, options: { ...loadOptions, env: { ...loadOptions.env }, paths: { ...loadOptions.paths } } };
  const worker = new Worker(WORKER, { workerData: data, stdout: false, stderr: false });
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
      void worker.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (message: LoadMessage) => settle(() => (message.ok ? resolve(message.config) : reject(rebuiltError(message.error)))));
    worker.once('error', (error) => settle(() => reject(error)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the config worker exited with code ${code} before answering`))));
  });
}
