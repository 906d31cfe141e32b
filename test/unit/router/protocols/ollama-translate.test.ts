// Request/response pairs written from Ollama's docs/api.md and llama-server's OpenAI endpoints.
import { describe, expect, it } from 'vitest';

import { translateChatRequest, translateChatResponse } from '../../../../src/router/protocols/ollama-chat.js';
import { translateEmbedRequest, translateEmbedResponse, translateLegacyEmbeddingsResponse } from '../../../../src/router/protocols/ollama-embed.js';
import { translateGenerateRequest, translateGenerateResponse } from '../../../../src/router/protocols/ollama-generate.js';
import { InfillStreamTranslator, infillRefusal, translateInfillResponse } from '../../../../src/router/protocols/ollama-infill.js';
import { parseKeepAlive, translateOptions } from '../../../../src/router/protocols/ollama-options.js';
import { RouterError } from '../../../../src/router/types.js';
import { modelInfo } from './model-info.js';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

describe('POST /api/chat → /v1/chat/completions', () => {
  it('maps messages, options, format, tools and stream', () => {
    const out = translateChatRequest(
      {
        model: 'qwen:latest',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'What is in this picture?', images: [PNG] },
        ],
        options: { temperature: 0.2, top_p: 0.9, top_k: 40, seed: 42, num_predict: 64, stop: ['\n\n'], num_ctx: 2048 },
        format: 'json',
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
        keep_alive: '10m',
      },
      modelInfo(),
    );
    expect(out.stream).toBe(true);
    expect(out.keepAliveMs).toBe(600_000);
    expect(out.warnings).toEqual([]);
    expect(out.body).toEqual({
      model: 'qwen',
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
            { type: 'text', text: 'What is in this picture?' },
          ],
        },
      ],
      temperature: 0.2,
      top_p: 0.9,
      top_k: 40,
      seed: 42,
      max_tokens: 64,
      stop: ['\n\n'],
      response_format: { type: 'json_object' },
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('a JSON schema format becomes response_format json_schema; stream false is not streamed', () => {
    const schema = { type: 'object', properties: { age: { type: 'integer' } }, required: ['age'] };
    const out = translateChatRequest({ model: 'qwen', messages: [{ role: 'user', content: 'age?' }], format: schema, stream: false }, modelInfo());
    expect(out.stream).toBe(false);
    expect(out.body.stream).toBeUndefined();
    expect(out.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'response', schema } });
  });

  it('tool calls get ids and JSON-text arguments; the tool result answers the call of that tool', () => {
    const out = translateChatRequest(
      {
        model: 'qwen',
        messages: [
          { role: 'user', content: 'Weather in Paris and Tokyo?' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [
              { function: { name: 'get_weather', arguments: { city: 'Paris' } } },
              { function: { name: 'get_time', arguments: { city: 'Tokyo' } } },
            ],
          },
          { role: 'tool', content: '09:00', tool_name: 'get_time' },
          { role: 'tool', content: '18 degrees', tool_name: 'get_weather' },
        ],
      },
      modelInfo(),
    );
    const messages = out.body.messages as Array<Record<string, unknown>>;
    expect(messages[1]!.tool_calls).toEqual([
      { id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_1', type: 'function', function: { name: 'get_time', arguments: '{"city":"Tokyo"}' } },
    ]);
    expect(messages[2]).toEqual({ role: 'tool', content: '09:00', tool_call_id: 'call_1', name: 'get_time' });
    expect(messages[3]).toEqual({ role: 'tool', content: '18 degrees', tool_call_id: 'call_0', name: 'get_weather' });
  });

  it('images for an instance known to run without vision are refused before anything is queued', () => {
    const textOnly = modelInfo({ props: { modalities: { vision: false } } });
    expect(() => translateChatRequest({ model: 'qwen', messages: [{ role: 'user', content: 'hi', images: [PNG] }] }, textOnly)).toThrow(
      /does not support images/,
    );
  });

  it('think maps to the chat template switch', () => {
    const out = translateChatRequest({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }], think: false }, modelInfo());
    expect(out.body.chat_template_kwargs).toEqual({ enable_thinking: false });
  });

  it('bad fields are 400s naming the field', () => {
    const bad = (request: Record<string, unknown>) => {
      try {
        translateChatRequest({ model: 'qwen', messages: [{ role: 'user', content: 'x' }], ...request }, modelInfo());
      } catch (error) {
        expect(error).toBeInstanceOf(RouterError);
        expect((error as RouterError).status).toBe(400);
        return (error as Error).message;
      }
      throw new Error('expected a RouterError');
    };
    expect(bad({ options: { temperature: 'hot' } })).toMatch(/temperature/);
    expect(bad({ format: 'yaml' })).toMatch(/format/);
    expect(bad({ keep_alive: 'soon' })).toMatch(/keep_alive/);
    expect(bad({ messages: 'hello' })).toMatch(/messages/);
  });
});

describe('options', () => {
  it('num_ctx within the running context is honoured silently; larger and load-time options warn', () => {
    expect(translateOptions({ num_ctx: 4096 }, 4096).warnings).toEqual([]);
    const out = translateOptions({ num_ctx: 32768, num_gpu: 99, mystery: 1, num_predict: -1 }, 4096);
    expect(out.fields).toEqual({});
    expect(out.warnings).toEqual([
      'num_ctx 32768 ignored: the instance runs with a context of 4096 tokens (server.ctx_size in the TOML file)',
      'option "num_gpu" ignored: how a model is loaded is set in the TOML file, not per request',
      'unknown option "mystery" ignored',
    ]);
  });

  it('keep_alive: Go durations, seconds, 0 and negative', () => {
    expect(parseKeepAlive('5m')).toBe(300_000);
    expect(parseKeepAlive('1h30m')).toBe(5_400_000);
    expect(parseKeepAlive(30)).toBe(30_000);
    expect(parseKeepAlive('30')).toBe(30_000);
    expect(parseKeepAlive(0)).toBe(0);
    expect(parseKeepAlive('0')).toBe(0);
    expect(parseKeepAlive(-1)).toBe(Infinity);
    expect(parseKeepAlive('-1m')).toBe(Infinity);
    expect(parseKeepAlive(undefined)).toBeUndefined();
  });
});

describe('/v1/chat/completions → Ollama chat response', () => {
  it('content, tool calls with object arguments, counters in ns', () => {
    const upstream = {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: '',
            tool_calls: [{ id: 'abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
          },
        },
      ],
      usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
      timings: { prompt_n: 12, prompt_ms: 3.5, predicted_n: 7, predicted_ms: 70 },
    };
    expect(translateChatResponse(upstream, 'qwen:latest', '2026-01-01T00:00:00.000Z', 100)).toEqual({
      model: 'qwen:latest',
      created_at: '2026-01-01T00:00:00.000Z',
      message: { role: 'assistant', content: '', tool_calls: [{ id: 'abc', function: { index: 0, name: 'get_weather', arguments: { city: 'Paris' } } }] },
      done: true,
      done_reason: 'stop',
      total_duration: 100_000_000,
      load_duration: 0,
      prompt_eval_count: 12,
      prompt_eval_duration: 3_500_000,
      eval_count: 7,
      eval_duration: 70_000_000,
    });
  });

  it('a length stop is done_reason length; reasoning is thinking', () => {
    const out = translateChatResponse(
      { choices: [{ finish_reason: 'length', message: { content: 'Hel', reasoning_content: 'hmm' } }] },
      'qwen',
      'now',
      1,
    );
    expect(out.done_reason).toBe('length');
    expect(out.message).toEqual({ role: 'assistant', content: 'Hel', thinking: 'hmm' });
  });
});

describe('POST /api/generate', () => {
  it('prompt + system is a one-turn chat; raw goes to /v1/completions verbatim', () => {
    const chat = translateGenerateRequest({ model: 'qwen', prompt: 'Why is the sky blue?', system: 'Be brief.', stream: false, options: { seed: 1 } }, modelInfo());
    expect(chat.path).toBe('/v1/chat/completions');
    expect(chat.body).toEqual({
      model: 'qwen',
      seed: 1,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Why is the sky blue?' },
      ],
    });
    const raw = translateGenerateRequest({ model: 'qwen', prompt: '[INST] hi [/INST]', raw: true }, modelInfo());
    expect(raw.path).toBe('/v1/completions');
    expect(raw.body).toEqual({ model: 'qwen', prompt: '[INST] hi [/INST]', stream: true, stream_options: { include_usage: true } });
  });

  it('template is ignored with a warning; context is kept for the chat-template path, ignored (with a warning) when raw', () => {
    const out = translateGenerateRequest({ model: 'qwen', prompt: 'x', context: [1, 2, 3], template: '{{ .Prompt }}' }, modelInfo());
    expect(out.warnings).toEqual(['"template" ignored: the instance uses its own chat template']);
    expect(out).toMatchObject({ context: [1, 2, 3], returnsContext: true, path: '/v1/chat/completions' });
    const raw = translateGenerateRequest({ model: 'qwen', prompt: 'x', raw: true, context: [1, 2] }, modelInfo());
    expect(raw).toMatchObject({ context: undefined, returnsContext: false });
    expect(raw.warnings[0]).toMatch(/"context" ignored/);
    expect(() => translateGenerateRequest({ model: 'qwen', prompt: 'x', context: ['a'] }, modelInfo())).toThrow(/token ids/);
    expect(() => translateGenerateRequest({ model: 'qwen', prompt: 'x', context: [1], images: [PNG] }, modelInfo())).toThrow(/images/);
  });

  // Ollama docs' "Generate request (With suffix)" and llama-server's /infill (input_prefix, input_suffix, native answer).
  it('suffix is fill-in-the-middle: /infill with input_prefix and input_suffix, sampling options under native names', () => {
    const out = translateGenerateRequest(
      { model: 'codellama:code', prompt: 'def compute_gcd(a, b):', suffix: '    return result', options: { temperature: 0, num_predict: 32 }, stream: false },
      modelInfo(),
    );
    expect(out).toMatchObject({ path: '/infill', stream: false, returnsContext: false, warnings: [] });
    expect(out.body).toEqual({ temperature: 0, n_predict: 32, input_prefix: 'def compute_gcd(a, b):', input_suffix: '    return result', prompt: '', stream: false });
    const extras = translateGenerateRequest({ model: 'q', prompt: 'a', suffix: 'b', system: 's', format: 'json', context: [1] }, modelInfo());
    expect(extras.warnings).toHaveLength(3);
    expect(extras.body.stream).toBe(true);
    expect(() => translateGenerateRequest({ model: 'q', prompt: 'a', suffix: 'b', images: [PNG] }, modelInfo())).toThrow(/suffix/);
    expect(() => translateGenerateRequest({ model: 'q', prompt: 'a', suffix: 3 }, modelInfo())).toThrow(/suffix/);
    expect(translateGenerateRequest({ model: 'q', prompt: 'a', suffix: 'b', raw: true }, modelInfo())).toMatchObject({ path: '/v1/completions', warnings: [expect.stringMatching(/suffix/)] });
  });

  it("/infill's native answer becomes Ollama's generate response; a model without FIM tokens is a 400 \"does not support insert\"", () => {
    const upstream = {
      index: 0,
      content: '\n    if a == 0:\n        return b',
      stop: true,
      stop_type: 'eos',
      tokens_predicted: 12,
      tokens_evaluated: 20,
      timings: { prompt_n: 20, prompt_ms: 4.5, predicted_n: 12, predicted_ms: 60.25 },
    };
    expect(translateInfillResponse(upstream, 'codellama:code', 't', 80, 1500)).toEqual({
      model: 'codellama:code',
      created_at: 't',
      response: '\n    if a == 0:\n        return b',
      done: true,
      done_reason: 'stop',
      total_duration: 80_000_000,
      load_duration: 1_500_000_000,
      prompt_eval_count: 20,
      prompt_eval_duration: 4_500_000,
      eval_count: 12,
      eval_duration: 60_250_000,
    });
    expect(translateInfillResponse({ content: 'x', stop: true, stop_type: 'limit' }, 'q', 't', 0).done_reason).toBe('length');
    const refused = infillRefusal('tiny:latest', 501, 'Infill is not supported by this model: prefix token is missing. ');
    expect(refused).toEqual({ status: 400, error: 'tiny:latest does not support insert: Infill is not supported by this model: prefix token is missing.' });
    expect(infillRefusal('q', 400, 'bad json')).toBeUndefined();
  });

  it('the streamed /infill (native SSE frames, split anywhere) becomes response lines and one done line', () => {
    const t = new InfillStreamTranslator('q', () => 0, Date.now(), { loadMs: 2 });
    const sse =
      'data: {"index":0,"content":"if","stop":false}\n\ndata: {"index":0,"content":" a","stop":false}\n\n' +
      'data: {"index":0,"content":"","stop":true,"stop_type":"eos","timings":{"prompt_n":5,"prompt_ms":1,"predicted_n":2,"predicted_ms":3}}\n\n';
    const lines = (t.push(Buffer.from(sse.slice(0, 17))) + t.push(Buffer.from(sse.slice(17))) + t.end()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.response)).toEqual(['if', ' a', '']);
    expect(lines[2]).toMatchObject({ done: true, done_reason: 'stop', prompt_eval_count: 5, eval_count: 2, load_duration: 2_000_000 });
    const cut = new InfillStreamTranslator('q', () => 0, Date.now());
    expect(JSON.parse(cut.push(Buffer.from('data: {"content":"x","stop":false}\n\n')).split('\n')[0]!)).toMatchObject({ response: 'x', done: false });
    expect(JSON.parse(cut.end())).toEqual({ error: "the model's instance closed the stream before the answer was complete" });
  });

  it('text_completion and chat.completion answers both become response', () => {
    expect(translateGenerateResponse({ choices: [{ text: 'Rayleigh.', finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2 } }, 'qwen', 't', 0)).toMatchObject({
      model: 'qwen',
      response: 'Rayleigh.',
      done: true,
      done_reason: 'stop',
      prompt_eval_count: 3,
      eval_count: 2,
    });
    expect(translateGenerateResponse({ choices: [{ message: { content: 'Blue.' }, finish_reason: 'stop' }] }, 'qwen', 't', 0).response).toBe('Blue.');
  });
});

describe('embeddings', () => {
  it('/api/embed: string or list in, vectors in input order out', () => {
    expect(translateEmbedRequest({ model: 'qwen', input: ['a', 'b'], dimensions: 8 }, modelInfo(), false).body).toEqual({ model: 'qwen', input: ['a', 'b'], dimensions: 8 });
    const upstream = { data: [{ index: 1, embedding: [0, 1] }, { index: 0, embedding: [1, 0] }], usage: { prompt_tokens: 4 } };
    expect(translateEmbedResponse(upstream, 'qwen:latest', 2)).toEqual({
      model: 'qwen:latest',
      embeddings: [[1, 0], [0, 1]],
      total_duration: 2_000_000,
      load_duration: 0,
      prompt_eval_count: 4,
    });
  });

  it('/api/embeddings: prompt in, one embedding out; no input means load only', () => {
    expect(translateEmbedRequest({ model: 'qwen', prompt: 'hello' }, modelInfo(), true).body).toEqual({ model: 'qwen', input: 'hello' });
    expect(translateLegacyEmbeddingsResponse({ data: [{ index: 0, embedding: [0.5] }] })).toEqual({ embedding: [0.5] });
    expect(translateEmbedRequest({ model: 'qwen' }, modelInfo(), false).empty).toBe(true);
    expect(() => translateEmbedRequest({ model: 'qwen', prompt: ['a'] }, modelInfo(), true)).toThrow(/prompt/);
  });
});
