// INTERIM, until the router's fake llama-server answers the OpenAI endpoints: a tiny upstream with
// llama-server's shapes (chat stream/non-stream, tool calls, JSON mode, embeddings, /props).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface InterimUpstream {
  port: number;
  requests: Array<{ path: string; body: Record<string, unknown> }>;
  closes: number;
  close(): Promise<void>;
}

const WORDS = ['Hello', ' from', ' the', ' fake', ' llama', '-server', '.'];

export async function startInterimUpstream(tokenDelayMs = 0): Promise<InterimUpstream> {
  const state: InterimUpstream = { port: 0, requests: [], closes: 0, close: async () => undefined };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {};
    state.requests.push({ path: req.url ?? '', body });
    res.on('close', () => {
      if (!res.writableFinished) state.closes++;
    });
    const json = (value: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.url === '/props') return json({ model_path: '/m/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf', chat_template: 'tools', modalities: { vision: false }, default_generation_settings: { n_ctx: 4096 } });
    if (req.url === '/v1/embeddings') {
      const inputs = typeof body.input === 'string' ? [body.input] : (body.input as string[]);
      return json({ data: inputs.map((text, index) => ({ index, embedding: [text.length, 1, 0] })), usage: { prompt_tokens: inputs.length } });
    }
    const tools = Array.isArray(body.tools) && body.tools.length > 0;
    const jsonMode = body.response_format !== undefined;
    const words = jsonMode ? ['{"answer":', ' 42}'] : WORDS;
    if (!body.stream) {
      const message = tools
        ? { role: 'assistant', content: '', tool_calls: [{ id: 'call_x', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }
        : { role: 'assistant', content: words.join('') };
      const choice = req.url === '/v1/completions' ? { index: 0, text: words.join(''), finish_reason: 'stop' } : { index: 0, message, finish_reason: tools ? 'tool_calls' : 'stop' };
      return json({ choices: [choice], usage: { prompt_tokens: 3, completion_tokens: words.length } });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = (value: unknown) => res.write(`data: ${JSON.stringify(value)}\n\n`);
    if (tools) {
      send({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_x', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } }] } }] });
      send({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] } }] });
      send({ choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] });
    } else {
      for (const word of words) {
        if (res.destroyed) return;
        send(req.url === '/v1/completions' ? { choices: [{ index: 0, text: word, finish_reason: null }] } : { choices: [{ index: 0, delta: { content: word }, finish_reason: null }] });
        if (tokenDelayMs) await new Promise((r) => setTimeout(r, tokenDelayMs));
      }
      send({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    }
    send({ choices: [], usage: { prompt_tokens: 3, completion_tokens: words.length } });
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return state;
}
