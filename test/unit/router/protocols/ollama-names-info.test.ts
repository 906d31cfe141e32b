import { describe, expect, it } from 'vitest';

import { modelsList, statusValue } from '../../../../src/router/protocols/llamacpp-router.js';
import { capabilities, details, ps, show, tags } from '../../../../src/router/protocols/ollama-info.js';
import { nameCandidates, ollamaName, resolveOllamaName } from '../../../../src/router/protocols/ollama-names.js';
import type { ModelInfo } from '../../../../src/router/types.js';
import { modelInfo } from './model-info.js';

function coreOf(models: ModelInfo[]) {
  return {
    models: () => models,
    resolve: (id: string) => models.find((m) => m.ids.includes(id)),
  };
}

const qwen = modelInfo({ id: 'qwen', instance: 'qwen', ids: ['qwen', 'gpt-4o', 'Qwen2.5-7B:Q4_K_M'] });
const gemma = modelInfo({ id: 'gemma', instance: 'gemma', ids: ['gemma'] });

describe('names', () => {
  it('an id without a tag is shown as :latest; a tagged id as is', () => {
    expect(ollamaName('qwen')).toBe('qwen:latest');
    expect(ollamaName('Qwen2.5-7B:Q4_K_M')).toBe('Qwen2.5-7B:Q4_K_M');
    expect(ollamaName('hf.co/org/model')).toBe('hf.co/org/model:latest');
    expect(nameCandidates('registry.ollama.ai/library/qwen:latest')).toContain('qwen');
  });

  it('any configured id routes, with or without :latest, prefixed, in another case', () => {
    const core = coreOf([qwen, gemma]);
    for (const name of ['qwen', 'qwen:latest', 'gpt-4o:latest', 'gpt-4o', 'Qwen2.5-7B:Q4_K_M', 'library/gemma:latest', 'GEMMA:latest']) {
      expect(resolveOllamaName(core, name)?.id, name).toBeDefined();
    }
    expect(resolveOllamaName(core, 'gpt-4o:latest')?.id).toBe('qwen');
    expect(resolveOllamaName(core, 'qwen:7b')).toBeUndefined();
    expect(resolveOllamaName(core, 'llama3')).toBeUndefined();
  });
});

describe('tags, ps, show', () => {
  const props = {
    model_path: '/models/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf',
    chat_template: '{% if tools %}...{% endif %}',
    modalities: { vision: false },
    default_generation_settings: { n_ctx: 8192 },
  };

  it('/api/tags lists every configured id; ids of one instance share a digest', () => {
    const listed = tags([qwen, gemma], '2026-01-01T00:00:00.000Z').models as Array<Record<string, unknown>>;
    expect(listed.map((m) => m.name)).toEqual(['qwen:latest', 'gpt-4o:latest', 'Qwen2.5-7B:Q4_K_M', 'gemma:latest']);
    expect(new Set(listed.slice(0, 3).map((m) => m.digest)).size).toBe(1);
    expect(listed[3]!.digest).not.toBe(listed[0]!.digest);
    expect(listed[0]).toMatchObject({ model: 'qwen:latest', modified_at: '2026-01-01T00:00:00.000Z', details: { format: 'gguf' } });
  });

  it('details come from the model file once the instance ran, and are empty before', () => {
    expect(details(modelInfo({ props }))).toEqual({ parent_model: '', format: 'gguf', family: 'qwen2', families: ['qwen2'], parameter_size: '0.5B', quantization_level: 'Q4_K_M' });
    expect(details(modelInfo())).toMatchObject({ family: '', quantization_level: '' });
  });

  it('/api/ps lists what runs, with the TTL expiry; never-unload is far in the future', () => {
    const now = Date.parse('2026-01-01T00:00:00.000Z');
    const running = [
      modelInfo({ id: 'a', ids: ['a'], state: 'ready', expiresAt: now + 60_000 }),
      modelInfo({ id: 'b', ids: ['b'], state: 'ready', expiresAt: null, ttlMs: 300_000, inFlight: 1 }),
      modelInfo({ id: 'c', ids: ['c'], state: 'ready', ttlMs: 0 }),
      modelInfo({ id: 'd', ids: ['d'], state: 'stopped' }),
    ];
    const listed = ps(running, now).models as Array<Record<string, unknown>>;
    expect(listed.map((m) => [m.name, m.expires_at])).toEqual([
      ['a:latest', '2026-01-01T00:01:00.000Z'],
      ['b:latest', '2026-01-01T00:05:00.000Z'],
      ['c:latest', '2318-01-01T00:00:00Z'],
    ]);
    expect(listed[0]!.context_length).toBe(4096);
  });

  it('/api/show: context length, family, template and capabilities from /props', () => {
    const shown = show(modelInfo({ props }), 'now');
    expect(shown.model_info).toEqual({ 'general.architecture': 'qwen2', 'qwen2.context_length': 8192 });
    expect(shown.template).toBe(props.chat_template);
    expect(capabilities(modelInfo({ props }))).toEqual(['completion', 'tools']);
    expect(capabilities(modelInfo({ props: { modalities: { vision: true } } }))).toEqual(['completion', 'vision']);
  });
});

describe('llama.cpp router-mode /models', () => {
  it('ids and status values as llama-server in router mode lists them, never argv', () => {
    expect(modelsList([modelInfo({ state: 'ready', ids: ['qwen', 'gpt-4o'] }), modelInfo({ id: 'g', ids: ['g'], state: 'failed' })])).toEqual({
      object: 'list',
      data: [
        { id: 'qwen', object: 'model', owned_by: 'infer-entry', aliases: ['gpt-4o'], status: { value: 'loaded' } },
        { id: 'g', object: 'model', owned_by: 'infer-entry', aliases: [], status: { value: 'unloaded', failed: true } },
      ],
    });
    expect(statusValue('starting')).toBe('loading');
    expect(statusValue('stopped')).toBe('unloaded');
  });
});
