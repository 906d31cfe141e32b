// The byte path of the Ollama stream translator (plain frames copied, not parsed) against the full
// translation of every event (SseParser + JSON.parse): the same bytes for any stream, split anywhere.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { OllamaStreamTranslator, type StreamKind } from '../../../../src/router/protocols/ollama-stream.js';
import { SseParser } from './sse-reference.js';

const clock = () => Date.parse('2026-01-01T00:00:00.123Z');
const STARTED = 1_700_000_000_000;

/** A JSON string's text, or (raw) its literal as some server might write it. */
type Text = string | { raw: string };

type Frame =
  | { t: 'delta'; content?: Text | null; thinking?: Text | null; role?: boolean }
  | { t: 'text'; text: Text }
  | { t: 'tool'; index: number; id?: string; name?: string; args?: string }
  | { t: 'finish'; reason: string }
  | { t: 'usage' }
  | { t: 'error' }
  | { t: 'done' }
  | { t: 'junk'; line: string };

const specials = fc.constantFrom('"', '\\', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u001f', '\u007f', '\u2028', '🌍', 'é', '中', '\ud800', '\udfff', '/', '');
const text: fc.Arbitrary<Text> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 3, arbitrary: fc.array(specials, { maxLength: 5 }).map((s) => s.join('')) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
  // escapes JSON.stringify would not write: decoded, the line is the same as for their text
  { weight: 1, arbitrary: fc.constantFrom('"\\/x"', '"\\u00e9"', '"\\u001F"', '"\\u000a"', '"\\ud83c\\udf0d"', '"a\\u0041"', '"\\u0008"').map((raw) => ({ raw })) },
);
const frame: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ t: fc.constant('delta' as const), content: fc.option(text, { nil: undefined }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('delta' as const), thinking: fc.option(text, { nil: null }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('delta' as const), content: fc.option(text), thinking: fc.option(text), role: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('text' as const), text }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tool' as const), index: fc.nat(1), id: fc.option(fc.constantFrom('call_a', 'call_b'), { nil: undefined }), name: fc.option(fc.constantFrom('get', 'set'), { nil: undefined }), args: fc.option(fc.constantFrom('{"a":', '1}', '"x"', ''), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('finish' as const), reason: fc.constantFrom('stop', 'length', 'tool_calls') }) },
  { weight: 1, arbitrary: fc.constant({ t: 'usage' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'error' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'done' as const }) },
  { weight: 1, arbitrary: fc.constantFrom(': heartbeat', 'data: {"choices":[{"delta":{"content":"a"}}]', 'data: not json', 'data: {"choices":[{"delta":{"content":"a\u0001"}}]}', 'data:{"choices":[{"delta":{"content":"nospace"}}]}', 'data: {"choices":[{"delta":{"content":"a"}}]}\ndata: ', 'event: x', 'data: {"choices":[{"delta":{"content":"x"}},{"delta":{"content":"y"}}]}', 'data: {"choices":[{"delta":{"content":"x","content":null}}]}', 'data: {"choices":[{"delta":{"content":"a"},"delta":{}}]}', 'data: {"choices":[{"delta":{"content":1}}]}', 'data: {"choices":[{"delta":{"content":"a"},"text":null}],"x":[1]}', 'data: {"choices":[{"text":"t","delta":{"content":"c"}}]} ', 'data: {"a":1e5,"b":-0.5,"c":true,"choices":[{"delta":{"content":"n"}}]}',
    // several data lines: joined by a newline, which is not allowed inside a JSON string
    'data: {"choices":[{"delta":{"content":"a\ndata: b"}}]}',
    'data: {"choices":[{"delta":{"content":"a"}}]\ndata: }',
    'data: {"error":null,"choices":[{"delta":{"content":"e"}}]}',
    // not an object, or tool calls that are not a list of objects: an error line or nothing, never a throw
    'data: null',
    'data: [1]',
    'data: {"choices":[{"delta":{"tool_calls":5}}]}',
    'data: {"choices":[{"delta":{"tool_calls":[null,"x",{"index":0,"function":{"name":"n"}}]}}]}',
    // control bytes after \\u in a field the byte path skips: not JSON, as for the full translation
    'data: {"id":"\\u\u0010\u0011\u0012\u0013","choices":[{"delta":{"content":"hi"}}]}',
    // the same bytes around the text but for a finish reason as long as null
    'data: {"choices":[{"delta":{"content":"a"},"finish_reason":null}]}\n\ndata: {"choices":[{"delta":{"content":"b"},"finish_reason":"ab"}]}').map((line) => ({ t: 'junk' as const, line })) },
);

/** Each frame as the fake (OpenAI's order) or real llama-server (sorted keys) writes it. */
function sse(frames: Frame[], sorted: boolean, eol: string): string {
  const raws: string[] = [];
  const str = (value: Text | null | undefined) => {
    if (value === null || value === undefined) return value;
    if (typeof value === 'string') return value;
    raws.push(value.raw);
    return `\u0000RAW${raws.length - 1}\u0000`;
  };
  const chunk = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    sorted
      ? { choices: [{ finish_reason: null, index: 0, ...choice }], created: 1764500000, id: 'chatcmpl-x', model: 'm', system_fingerprint: 'b1-x', object: 'chat.completion.chunk', ...extra }
      : { id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1764500000, model: 'm', choices: [{ index: 0, ...choice, finish_reason: (choice.finish_reason as string | undefined) ?? null }], ...extra };
  const lines = frames.map((f) => {
    switch (f.t) {
      case 'delta': {
        const delta: Record<string, unknown> = {};
        if (f.role) delta.role = 'assistant';
        if (f.content !== undefined) delta.content = str(f.content);
        if (f.thinking !== undefined) delta.reasoning_content = str(f.thinking);
        return `data: ${JSON.stringify(chunk({ delta }))}`;
      }
      case 'text':
        return `data: ${JSON.stringify(chunk({ text: str(f.text) }))}`;
      case 'tool':
        return `data: ${JSON.stringify(chunk({ delta: { tool_calls: [{ index: f.index, ...(f.id ? { id: f.id, type: 'function' } : {}), function: { ...(f.name ? { name: f.name } : {}), ...(f.args !== undefined ? { arguments: f.args } : {}) } }] } }))}`;
      case 'finish':
        return `data: ${JSON.stringify(chunk({ delta: {}, finish_reason: f.reason }))}`;
      case 'usage':
        return `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 3 }, timings: { prompt_n: 5, prompt_ms: 1.5, predicted_n: 3, predicted_ms: 2.25 } })}`;
      case 'error':
        return `data: ${JSON.stringify({ error: { message: 'instance m exited mid-stream', type: 'server_error' } })}`;
      case 'done':
        return 'data: [DONE]';
      case 'junk':
        return f.line;
    }
  });
  const joined = lines.join('\n\n').replace(/"\\u0000RAW(\d+)\\u0000"/g, (_, i: string) => raws[Number(i)]!);
  return `${joined}\n\n`.replaceAll('\n', eol);
}

interface Run {
  lines: string;
  finish: string;
}

async function viaBytes(kind: StreamKind, bytes: Buffer, cuts: number[], finish: boolean): Promise<Run> {
  const translator = new OllamaStreamTranslator(kind, 'qwen:latest', clock, STARTED, { loadMs: 7, ...(finish ? { finish: async (text: string) => ({ text }) } : {}) });
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(Buffer.from(translator.push(bytes.subarray(from, cut))));
    from = cut;
  }
  out.push(Buffer.from(translator.end()));
  return { lines: Buffer.concat(out).toString('latin1'), finish: Buffer.from(await translator.finish()).toString('latin1') };
}

/** The full translation: every event decoded, parsed and written again, as before the byte path. */
async function viaEvents(kind: StreamKind, bytes: Buffer, cuts: number[], finish: boolean): Promise<Run> {
  const translator = new OllamaStreamTranslator(kind, 'qwen:latest', clock, STARTED, { loadMs: 7, ...(finish ? { finish: async (text: string) => ({ text }) } : {}) });
  const parser = new SseParser();
  let out = '';
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    for (const data of parser.push(bytes.subarray(from, cut))) out += translator.event(data);
    from = cut;
  }
  for (const data of parser.end()) out += translator.event(data);
  out += translator.close();
  return { lines: Buffer.from(out).toString('latin1'), finish: Buffer.from(await translator.finish()).toString('latin1') };
}

describe('plain frames copied as bytes', () => {
  beforeEach(() => {
    vi.spyOn(Date, 'now').mockReturnValue(STARTED + 1234);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('write the same bytes as the full translation, for any frames split anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(frame, { maxLength: 14 }),
        fc.boolean(),
        fc.constantFrom('\n', '\n', '\n', '\r\n', '\r'),
        fc.boolean(),
        fc.constantFrom<StreamKind>('chat', 'generate'),
        fc.boolean(),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
        fc.boolean(),
        async (frames, sorted, eol, bom, kind, finish, at, afterEveryCr) => {
          const bytes = Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(sse(frames, sorted, eol))]);
          // (a CR that ends a chunk may be half of a CRLF)
          const crs = afterEveryCr ? [...bytes.entries()].filter(([, b]) => b === 13).map(([i]) => i + 1) : [];
          const cuts = [...new Set([...crs, ...at.map((x) => Math.floor(x * bytes.length))])].sort((a, b) => a - b);
          const got = await viaBytes(kind, bytes, cuts, finish);
          expect(got).toEqual(await viaEvents(kind, bytes, cuts, finish));
        },
      ),
      { numRuns: 600 },
    );
  });

  it('bytes that are not UTF-8 in a text are decoded as before (replacement characters), not copied', async () => {
    const head = Buffer.from('data: {"choices":[{"delta":{"content":"a');
    const tail = Buffer.from('b"}}]}\n\n');
    for (const bad of [[0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf], [0xff]]) {
      const bytes = Buffer.concat([head, Buffer.from(bad), tail, Buffer.from('data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n')]);
      const got = await viaBytes('chat', bytes, [head.length + 1], false);
      expect(got).toEqual(await viaEvents('chat', bytes, [head.length + 1], false));
      expect(Buffer.from(got.lines, 'latin1').toString()).toContain('a\ufffd');
    }
  });

  it("a stream whose translation throws mid-chunk leaves none of its lines in another stream's output", () => {
    const broken = new OllamaStreamTranslator('chat', 'a:latest', clock, STARTED);
    // (the full translation does not throw on any frame; a bug in it must still not leak a line)
    vi.spyOn(broken, 'event').mockImplementation(() => {
      throw new Error('a bug');
    });
    expect(() => broken.push(Buffer.from('data: {"choices":[{"delta":{"content":"secret"}}]}\n\ndata: {"choices":[{"delta":{"tool_calls":[]}}]}\n\n'))).toThrow();
    const other = new OllamaStreamTranslator('chat', 'b:latest', clock, STARTED);
    const lines = Buffer.from(other.push(Buffer.from('data: {"choices":[{"delta":{"content":"mine"}}]}\n\n'))).toString();
    expect(lines).toBe('{"model":"b:latest","created_at":"2026-01-01T00:00:00.123Z","message":{"role":"assistant","content":"mine"},"done":false}\n');
  });

  it('one event larger than many reads comes out whole, and the line it made is not kept after the next push', () => {
    const args = 'x'.repeat(4 * 1024 * 1024);
    const big = Buffer.from(`data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"${args}"}}]},"finish_reason":"tool_calls"}]}\n\n`);
    const translator = new OllamaStreamTranslator('chat', 'a:latest', clock, STARTED);
    const out: Buffer[] = [];
    for (let at = 0; at < big.length; at += 65536) out.push(Buffer.from(translator.push(big.subarray(at, at + 65536))));
    const line = JSON.parse(Buffer.concat(out).toString()) as { message: { tool_calls: Array<{ function: { arguments: string } }> } };
    expect(line.message.tool_calls[0]!.function.arguments).toBe(args);
    // The next push of any stream is written into an ordinary block again, not the 4 MiB line's.
    const next = new OllamaStreamTranslator('chat', 'b:latest', clock, STARTED).push(Buffer.from('data: {"choices":[{"delta":{"content":"small"}}]}\n\n'));
    expect(next.buffer.byteLength).toBeLessThanOrEqual(64 * 1024);
  });

  it('plain frames in either key order are not parsed as JSON (the point of the byte path)', () => {
    for (const sorted of [false, true]) {
      const frames: Frame[] = [{ t: 'delta', role: true, content: null }, ...Array.from({ length: 20 }, (_, i): Frame => ({ t: 'delta', content: `tök ${i} "q" \\ 🌍\n\u0000` })), { t: 'finish', reason: 'stop' }, { t: 'done' }];
      const translator = new OllamaStreamTranslator('chat', 'qwen:latest', clock, STARTED);
      const parsed = vi.spyOn(translator, 'event');
      const out = Buffer.from(translator.push(Buffer.from(sse(frames, sorted, '\n')))).toString() + translator.end();
      expect(out.trimEnd().split('\n').map((line) => (JSON.parse(line) as { message: { content: string } }).message.content).join('')).toBe(
        Array.from({ length: 20 }, (_, i) => `tök ${i} "q" \\ 🌍\n\u0000`).join(''),
      );
      // the finish frame and [DONE] only
      expect(parsed).toHaveBeenCalledTimes(2);
    }
  });
});
