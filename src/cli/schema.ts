/** `infer-entry schema`: the JSON Schema of the instance config, for editors (Taplo) and CI. */
import type { Command } from './command.js';
import { configJsonSchema } from '../config/schema.js';

export const command: Command = {
  name: 'schema',
  summary: 'print the JSON Schema of the instance config file',
  help: `Usage: infer-entry schema

Print the JSON Schema (draft-07) of the TOML instance config, generated from
the same zod schema 'validate' uses. The repository commits it as
schemas/llama-cpp-config-toml.schema.json; point Taplo / Even Better TOML at
it with a first line like:
  #:schema ./llama-cpp-config-toml.schema.json`,
  options: {},
  async run(ctx) {
    ctx.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    return 0;
  },
};
