/**
 * Reload as a diff: instances the new config no longer has stop and go,
 * added ones start, changed ones (another fingerprint or enabled flag)
 * restart, unchanged ones keep running.
 */
import type { Logger } from 'pino';
import { Instance, type InstanceContext } from './instance.js';
import type { InstanceSpec, LoadedConfig, ReloadResult } from './types.js';

export interface ApplyTarget {
  instances: Map<string, Instance>;
  ctx: InstanceContext;
  log: Logger;
  /** True once the supervisor is shutting down: nothing starts any more. */
  closed(): boolean;
}

export async function applyConfig(target: ApplyTarget, config: LoadedConfig): Promise<ReloadResult> {
  const { instances, ctx, log } = target;
  const result: ReloadResult = { added: [], removed: [], changed: [], unchanged: [] };
  const next = new Map<string, InstanceSpec>(config.instances.map((spec) => [spec.name, spec]));
  const work: Promise<void>[] = [];
  for (const [name, instance] of instances) {
    if (next.has(name)) continue;
    result.removed.push(name);
    work.push(
      instance.stop('removed from the config').then(() => {
        if (instances.get(name) === instance) instances.delete(name);
      }),
    );
  }
  for (const spec of config.instances) {
    const enabled = config.enable && spec.enabled;
    const current = instances.get(spec.name);
    if (!current) {
      result.added.push(spec.name);
      const instance = new Instance(spec, enabled, ctx);
      instances.set(spec.name, instance);
      if (enabled && !target.closed()) void instance.start('added by the config');
      continue;
    }
    if (current.spec.fingerprint === spec.fingerprint && current.enabled === enabled) {
      result.unchanged.push(spec.name);
      current.updateSpec(spec, enabled);
      // A reload is how users say "I fixed it" (a model file copied in, a port freed): an enabled
      // instance that gave up gets a fresh try. A manually stopped one stays stopped.
      if (enabled && !target.closed() && current.state === 'failed') void current.start('config reloaded; retrying the failed instance');
      continue;
    }
    result.changed.push(spec.name);
    work.push(
      (async () => {
        await current.stop(enabled ? 'config changed; restarting' : 'disabled in the config');
        current.updateSpec(spec, enabled);
        if (enabled && !target.closed()) void current.start('config changed');
      })(),
    );
  }
  await Promise.all(work);
  log.info({ step: 'supervise', file: config.file, ...result }, 'config loaded');
  return result;
}
