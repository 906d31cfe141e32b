import { describe, expect, it } from 'vitest';

import { modelsList, statusValue } from '../../../../src/router/protocols/llamacpp-router.js';
import { ModelFileSizes } from '../../../../src/router/protocols/model-file-size.js';
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

  const noFile = () => 0;

  it('/api/tags lists every configured id; ids of one instance share a digest', () => {
    const listed = tags([qwen, gemma], '2026-01-01T00:00:00.000Z', noFile).models as Array<Record<string, unknown>>;
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
    const listed = ps(running, now, noFile).models as Array<Record<string, unknown>>;
    expect(listed.map((m) => [m.name, m.expires_at])).toEqual([
      ['a:latest', '2026-01-01T00:01:00.000Z'],
      ['b:latest', '2026-01-01T00:05:00.000Z'],
      ['c:latest', '2318-01-01T00:00:00Z'],
    ]);
    expect(listed[0]!.context_length).toBe(4096);
  });

  it('size is the model file, size_vram the VRAM it takes; unknown VRAM reads as CPU-only (0)', () => {
    const sizeOf = (path: string | null) => (path === '/models/q.gguf' ? 400 * 1024 * 1024 : 0);
    const onGpu = modelInfo({ id: 'g', ids: ['g'], state: 'ready', modelPath: '/models/q.gguf', vramMb: 600 });
    const onCpu = modelInfo({ id: 'c', ids: ['c'], state: 'ready', modelPath: '/models/q.gguf' });
    const fromHub = modelInfo({ id: 'h', ids: ['h'], state: 'ready' });
    expect(tags([onGpu, fromHub], 'now', sizeOf).models).toMatchObject([{ size: 400 * 1024 * 1024 }, { size: 0 }]);
    // VRAM beyond the file (KV cache, buffers): size grows with it, so clients never see more than 100 % on the GPU.
    expect(ps([onGpu, onCpu, fromHub], 0, sizeOf).models).toMatchObject([
      { name: 'g:latest', size: 600 * 1024 * 1024, size_vram: 600 * 1024 * 1024 },
      { name: 'c:latest', size: 400 * 1024 * 1024, size_vram: 0 },
      { name: 'h:latest', size: 0, size_vram: 0 },
    ]);
  });

  it('a model file is stat-ed per listing; a split GGUF counts every part, summed again only when the file changes', () => {
    const files: Record<string, { size: number; mtimeMs: number }> = {
      '/m/big-00001-of-00002.gguf': { size: 10, mtimeMs: 1 },
      '/m/big-00002-of-00002.gguf': { size: 5, mtimeMs: 1 },
      '/m/one.gguf': { size: 7, mtimeMs: 1 },
    };
    const stats: string[] = [];
    const sizes = new ModelFileSizes({
      stat: (path) => {
        stats.push(path);
        const file = files[path];
        if (!file) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
        return file;
      },
    });
    expect(sizes.of('/m/big-00001-of-00002.gguf')).toBe(15);
    expect(sizes.of('/m/one.gguf')).toBe(7);
    expect(sizes.of('/m/gone.gguf')).toBe(0);
    expect(sizes.of(null)).toBe(0);
    stats.length = 0;
    expect(sizes.of('/m/big-00001-of-00002.gguf')).toBe(15);
    expect(stats).toEqual(['/m/big-00001-of-00002.gguf']);
    files['/m/big-00001-of-00002.gguf'] = { size: 12, mtimeMs: 2 };
    expect(sizes.of('/m/big-00001-of-00002.gguf')).toBe(17);
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
