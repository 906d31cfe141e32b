// llama-server's SSE (as /v1/chat/completions streams it) → Ollama's NDJSON, split at every byte.
import { describe, expect, it } from 'vitest';

import { OllamaStreamTranslator } from '../../../../src/router/protocols/ollama-stream.js';
import { eventText, SseByteParser, type SseSink } from '../../../../src/router/protocols/sse-byte-parser.js';

const frame = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
const delta = (d: Record<string, unknown>, finish: string | null = null) => frame({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: d, finish_reason: finish }] });

const CHAT = [
  ': loading heartbeat\n\n',
  delta({ role: 'assistant', content: null }),
  delta({ reasoning_content: 'Think' }),
  delta({ content: 'Héllo' }),
  delta({ content: ' wörld 🌍' }),
  delta({}, 'stop'),
  frame({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 3 }, timings: { prompt_ms: 1, predicted_ms: 2 } }),
  'data: [DONE]\n\n',
].join('');

const clock = () => Date.parse('2026-01-01T00:00:00.000Z');

function translate(bytes: Buffer, cuts: number[], kind: 'chat' | 'generate' = 'chat'): Array<Record<string, unknown>> {
  const translator = new OllamaStreamTranslator(kind, 'qwen:latest', clock, Date.now());
  let out = '';
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out += translator.push(bytes.subarray(from, cut));
    from = cut;
  }
  out += translator.end();
  expect(out.endsWith('\n')).toBe(true);
  return out.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('OpenAI SSE → Ollama NDJSON', () => {
  it('content and thinking lines, then done with counters; the same lines wherever the bytes are split', () => {
    const bytes = Buffer.from(CHAT);
    const whole = translate(bytes, []);
    expect(whole.map((l) => l.message)).toEqual([
      { role: 'assistant', content: '', thinking: 'Think' },
      { role: 'assistant', content: 'Héllo' },
      { role: 'assistant', content: ' wörld 🌍' },
      { role: 'assistant', content: '' },
    ]);
    expect(whole.at(-1)).toMatchObject({ model: 'qwen:latest', created_at: '2026-01-01T00:00:00.000Z', done: true, done_reason: 'stop', prompt_eval_count: 5, eval_count: 3, eval_duration: 2_000_000 });
    expect(whole.slice(0, -1).every((l) => l.done === false)).toBe(true);
    for (let cut = 1; cut < bytes.length; cut++) {
      const lines = translate(bytes, [cut]).map(({ total_duration: _t, ...rest }) => rest);
      expect(lines).toEqual(whole.map(({ total_duration: _t, ...rest }) => rest));
    }
    // and one byte at a time (splits every UTF-8 character and every CRLF-free boundary)
    const single = translate(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1));
    expect(single.map((l) => l.message)).toEqual(whole.map((l) => l.message));
  });

  it('CRLF line ends split between CR and LF', () => {
    const bytes = Buffer.from(CHAT.replaceAll('\n', '\r\n'));
    const cuts = [...CHAT.replaceAll('\n', '\r\n').matchAll(/\r/g)].map((m) => m.index! + 1);
    expect(translate(bytes, cuts).map((l) => l.message)).toEqual(translate(Buffer.from(CHAT), []).map((l) => l.message));
  });

  it('streamed tool-call fragments become one tool_calls line with object arguments', () => {
    const sse = [
      delta({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      delta({}, 'tool_calls'),
      'data: [DONE]\n\n',
    ].join('');
    const lines = translate(Buffer.from(sse), []);
    expect(lines[0]!.message).toEqual({ role: 'assistant', content: '', tool_calls: [{ id: 'call_a', function: { index: 0, name: 'get_weather', arguments: { city: 'Paris' } } }] });
    expect(lines[1]).toMatchObject({ done: true, done_reason: 'stop' });
  });

  it('generate streams use response; /v1/completions text frames too', () => {
    const sse = frame({ choices: [{ text: 'Blue', finish_reason: null }] }) + frame({ choices: [{ text: '.', finish_reason: 'length' }] }) + 'data: [DONE]\n\n';
    const lines = translate(Buffer.from(sse), [7], 'generate');
    expect(lines.map((l) => l.response)).toEqual(['Blue', '.', '']);
    expect(lines.at(-1)).toMatchObject({ done: true, done_reason: 'length' });
  });

  it('an upstream error frame is an Ollama error line and nothing after it', () => {
    const sse = delta({ content: 'Hi' }) + frame({ error: { message: 'instance qwen exited mid-stream', type: 'server_error' } }) + delta({ content: 'late' });
    const lines = translate(Buffer.from(sse), []);
    expect(lines).toEqual([expect.objectContaining({ message: { role: 'assistant', content: 'Hi' } }), { error: 'instance qwen exited mid-stream' }]);
  });

  it('a stream cut before it finished never claims done', () => {
    const lines = translate(Buffer.from(delta({ content: 'Hi' })), []);
    expect(lines.at(-1)).toEqual({ error: "the model's instance closed the stream before the answer was complete" });
  });

  it('finish without [DONE] still ends with done', () => {
    expect(translate(Buffer.from(delta({ content: 'Hi' }, 'stop')), []).at(-1)).toMatchObject({ done: true, done_reason: 'stop' });
  });
});

describe('SseByteParser', () => {
  it('joins multi-line data and keeps an unterminated last event', () => {
    const parser = new SseByteParser();
    let events: string[] = [];
    const sink: SseSink = { bytes: (buf, start, end) => events.push(eventText(buf, start, end)), text: (data) => events.push(data) };
    parser.push(Buffer.from('data: a\ndata: b\n\nevent: x\ndata: c'), sink);
    expect(events).toEqual(['a\nb']);
    events = [];
    parser.end(sink);
    expect(events).toEqual(['c']);
  });
});
