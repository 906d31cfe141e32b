/**
 * The daemon's router host, loaded when a config first enables the router: its modules (an HTTP
 * client, the GPU probe and its process runner, metrics) are most of what a boot would load, and
 * a daemon that only supervises never needs them.
 */
import type { LoadedConfig } from '../config/types.js';
import type { RouterHost, RouterHostOptions } from '../router/router-host.js';

export function lazyRouterHost(options: RouterHostOptions): Pick<RouterHost, 'apply' | 'close'> {
  let host: Promise<RouterHost> | null = null;
  let closed = false;
  return {
    async apply(config: LoadedConfig) {
      if (closed) return;
      if (host === null && !(config.enable && config.router?.enable)) return;
      host ??= import('../router/router-host.js').then((m) => m.createRouterHost(options));
      await (await host).apply(config);
    },
    async close() {
      closed = true;
      if (host !== null) await (await host).close();
    },
  };
}
