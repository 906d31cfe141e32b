/**
 * check-and-run with a daemon running: hand it the file (a reload), start the
 * chosen instances that are not running, wait until they settle, report.
 */
import { ExitCode } from '../errors.js';
import type { InstanceStatus } from '../supervisor/types.js';
import { ROUTES, type HealthBody, type InstancesBody, type ReloadBody } from '../control/api.js';
import { requestJson } from './control-client.js';
import { reportSettled, writeReloadProblems } from './render.js';

export interface HandOffOptions {
  socket: string;
  /** Absolute path of the validated config file. */
  file: string;
  /** Instances to start and wait for. */
  targets: string[];
  json: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** States a named instance is started from; a start during a backoff skips the rest of the wait. */
const STARTABLE = new Set(['stopped', 'failed', 'backoff']);

export async function handOffToDaemon(options: HandOffOptions): Promise<number> {
  const { socket, file, targets } = options;
  // Loading another file replaces the daemon's config: what it served and is not in `file` stops.
  const previous = (await requestJson<HealthBody>(socket, 'GET', ROUTES.healthz)).body.config;
  let reloaded: ReloadBody;
  try {
    reloaded = (await requestJson<ReloadBody>(socket, 'POST', ROUTES.reload, { file })).body;
  } catch (error) {
    // The daemon reads the file with its own environment (overrides) and permissions: show its problems too.
    writeReloadProblems(error, options.stderr);
    throw error;
  }
  const r = reloaded.result;
  options.stderr.write(
    `daemon loaded ${file}: added ${r.added.length}, removed ${r.removed.length}, changed ${r.changed.length}, unchanged ${r.unchanged.length}\n`,
  );
  if (typeof previous === 'string' && previous !== file) {
    options.stderr.write(`note: the daemon was serving ${previous}; it now serves ${file} ('infer-entry reload' and SIGHUP re-read ${file})\n`);
  }
  if (r.removed.length > 0) options.stderr.write(`stopped (not in ${file}): ${r.removed.join(', ')}\n`);
  const { body: current } = await requestJson<InstancesBody>(socket, 'GET', ROUTES.instances);
  for (const name of targets) {
    const status = current.instances.find((s) => s.name === name);
    if (!status || STARTABLE.has(status.state)) await requestJson<InstanceStatus>(socket, 'POST', `${ROUTES.instances}/${encodeURIComponent(name)}/start`);
  }
  if (targets.length === 0) return ExitCode.OK;
  const { body: settled } = await requestJson<InstancesBody>(socket, 'POST', ROUTES.wait, { names: targets });
  return reportSettled(settled.instances, options.json, options.stdout);
}
