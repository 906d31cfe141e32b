/**
 * Mounts the protocol layers on the router: llama.cpp's router-mode endpoints always, Ollama's API
 * unless `[router] ollama = false`, and, with `ollama_listen`, a second listener serving the same
 * route table for clients that hard-code Ollama's port.
 */
import type { AddressInfo } from 'node:net';

import type { Logger } from 'pino';

import type { Router } from '../router.js';
import { createListener } from '../server.js';
import type { RouterSettings } from '../types.js';
import { registerLlamaCppRouterRoutes } from './llamacpp-router.js';
import { registerOllamaRoutes } from './ollama-routes.js';

export interface ProtocolListener {
  start(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export interface ProtocolMount {
  /** Set when `ollama_listen` is configured (and `ollama` is on); start it beside the router. */
  ollamaListener: ProtocolListener | undefined;
}

export function registerProtocolRoutes(router: Pick<Router, 'routes' | 'core'>, settings: RouterSettings, log: Logger, apiKeys: string[] = []): ProtocolMount {
  registerLlamaCppRouterRoutes(router.routes, router.core, { maxBodyBytes: settings.maxBodyBytes });
  if (!settings.ollama) return { ollamaListener: undefined };
  const protocolLog = log.child({ step: 'router', protocol: 'ollama' });
  registerOllamaRoutes(router.routes, router.core, {
    maxBodyBytes: settings.maxBodyBytes,
    log: { warn: (fields, message) => protocolLog.warn(fields, message), error: (fields, message) => protocolLog.error(fields, message) },
  });
  const second = settings.ollamaListen;
  if (!second) return { ollamaListener: undefined };
  const listener = createListener({ routes: router.routes, log, apiKeys });
  return {
    ollamaListener: {
      async start() {
        const address = await listener.listen(second.host, second.port);
        protocolLog.info({ host: address.address, port: address.port }, `Ollama API also listening on ${address.address}:${address.port}`);
        return address;
      },
      close: () => listener.close(),
    },
  };
}
