/**
 * The body of the config loader process (load-in-child.ts): load the one config file named by
 * the daemon's first message and send the result back as plain data, then exit.
 */
import { loadConfig, type LoadOptions } from './load.js';
import { sendableError, type LoadMessage } from './load-message.js';

export interface LoadChildData {
  file: string;
  options: LoadOptions;
}

// The daemon that forked this process is its only reader: without it there is nothing to do.
process.once('disconnect', () => process.exit(0));
process.once('message', (data: LoadChildData) => {
  void loadConfig(data.file, data.options).then(
    (config): LoadMessage => ({ ok: true, config }),
    (error: unknown): LoadMessage => ({ ok: false, error: sendableError(error) }),
  ).then((message) => process.send!(message, () => process.exit(0)));
});
