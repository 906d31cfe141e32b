/**
 * The body of the config worker thread (load-in-worker.ts): load one config
 * file and post the result as plain data.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig, type LoadOptions } from './load.js';
import { sendableError, type LoadMessage } from './load-message.js';

export interface LoadWorkerData {
  file: string;
  options: LoadOptions;
}

const { file, options } = workerData as LoadWorkerData;
let message: LoadMessage;
try {
  message = { ok: true, config: await loadConfig(file, options) };
} catch (error) {
  message = { ok: false, error: sendableError(error) };
}
parentPort!.postMessage(message);
