import type { ModelInfo } from '../../../../src/router/types.js';

/** A ModelInfo as the core would list it; tests override what they exercise. */
export function modelInfo(overrides: Partial<ModelInfo> = {}): ModelInfo {
  return {
    id: 'qwen',
    instance: 'qwen',
    ids: ['qwen'],
    state: 'stopped',
    onDemand: true,
    ttlMs: 900_000,
    expiresAt: null,
    contextSize: 4096,
    props: null,
    port: 0,
    host: '127.0.0.1',
    queued: 0,
    inFlight: 0,
    maxConcurrency: 1,
    loadMs: null,
    vramMb: null,
    vramMeasured: null,
    modelPath: null,
    ...overrides,
  };
}
