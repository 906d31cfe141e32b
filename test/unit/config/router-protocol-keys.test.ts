import { describe, expect, it } from 'vitest';

import { parse, parseOk } from './helpers.js';

const ONE = `
[instance.a.server]
model = "/m/a.gguf"
port = 8081
`;

describe('[router] ollama and ollama_listen', () => {
  it("Ollama's API is on by default, with no second listener", () => {
    expect(parseOk(`[router]\nenable = true\n${ONE}`).router).toMatchObject({ ollama: true, ollamaListen: undefined });
  });

  it('ollama = false turns it off; ollama_listen adds a second port', () => {
    expect(parseOk(`[router]\nenable = true\nollama = false\n${ONE}`).router).toMatchObject({ ollama: false, ollamaListen: undefined });
    expect(parseOk(`[router]\nenable = true\nollama_listen = "0.0.0.0:11434"\n${ONE}`).router?.ollamaListen).toEqual({ host: '0.0.0.0', port: 11434 });
    expect(parseOk(`[router]\nenable = true\nollama_listen = "[::]:11434"\n${ONE}`).router?.ollamaListen).toEqual({ host: '::', port: 11434 });
  });

  it('a malformed ollama_listen is a config problem naming the key', () => {
    const problems = JSON.stringify(parse(`[router]\nenable = true\nollama_listen = "11434"\n${ONE}`));
    expect(problems).toMatch(/ollama_listen/);
    expect(problems).toMatch(/HOST:PORT/);
  });
});
