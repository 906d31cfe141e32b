import { describe, expect, it } from 'vitest';
import { parse as parseToml } from 'smol-toml';
import { createTomlLocator } from '../../../src/config/toml-locator.js';

const text = `# comment with key = "value" and [fake.table]
[master]
enable = true   # trailing

[instance.server]
extra_args = [
  "--jinja",   # a comment
  '--x',
]
note = """
port = 1
[not.a.table]
"""

[instance."quoted.name".server]
model = "/m.gguf"
"ctx-size" = 4

[instance.b]
server.port = 8080
control = { gpu_ids = "0", log_dir = "/var/log" }
server.lora = ["/a", "/b"]

[[array.of.tables]]
x = 1
[[array.of.tables]]
x = 2
`;

describe('the TOML key locator', () => {
  // The locator only runs on documents smol-toml accepted; make sure this one is valid TOML.
  it('is tested on valid TOML', () => {
    expect(() => parseToml(text)).not.toThrow();
  });

  const locator = createTomlLocator(text);

  it('finds table headers and keys, ignoring comments and string contents', () => {
    expect(locator.exact(['master'])).toEqual({ line: 2, column: 2 });
    expect(locator.exact(['master', 'enable'])).toEqual({ line: 3, column: 1 });
    expect(locator.exact(['fake', 'table'])).toBeUndefined();
    expect(locator.exact(['not', 'a', 'table'])).toBeUndefined();
    expect(locator.exact(['instance', 'server', 'port'])).toBeUndefined();
    expect(locator.exact(['instance', 'server', 'note'])).toEqual({ line: 10, column: 1 });
  });

  it('finds the items of a list spanning lines', () => {
    expect(locator.exact(['instance', 'server', 'extra_args', 0])).toEqual({ line: 7, column: 3 });
    expect(locator.exact(['instance', 'server', 'extra_args', 1])).toEqual({ line: 8, column: 3 });
  });

  it('handles quoted keys, dotted keys and inline tables', () => {
    expect(locator.exact(['instance', 'quoted.name', 'server', 'model'])).toEqual({ line: 16, column: 1 });
    expect(locator.exact(['instance', 'quoted.name', 'server', 'ctx-size'])).toEqual({ line: 17, column: 1 });
    expect(locator.exact(['instance', 'b', 'server', 'port'])).toEqual({ line: 20, column: 1 });
    expect(locator.exact(['instance', 'b', 'control', 'log_dir'])).toEqual({ line: 21, column: 28 });
    expect(locator.exact(['instance', 'b', 'server', 'lora', 1])).toEqual({ line: 22, column: 22 });
  });

  it('counts arrays of tables', () => {
    expect(locator.exact(['array', 'of', 'tables', 1, 'x'])).toEqual({ line: 27, column: 1 });
  });

  it('falls back to the closest written parent for keys that are not in the file', () => {
    expect(locator.locate(['instance', 'b', 'server', 'model'])).toEqual({ line: 20, column: 1 });
    expect(locator.locate(['instance', 'zzz', 'server'])).toEqual({ line: 5, column: 2 });
    expect(locator.locate(['nothing'])).toBeUndefined();
  });
});

describe('the locator on text that is not valid TOML', () => {
  it('terminates and still finds what it can', () => {
    const locator = createTomlLocator('a = [ } ]\n[t]\nk = 1\nm = { = }\nn = [ "unterminated\n');
    expect(locator.exact(['t', 'k'])).toEqual({ line: 3, column: 1 });
  });
});

describe('files saved by Windows editors', () => {
  it('a byte-order mark and CRLF line ends do not shift lines', () => {
    const locator = createTomlLocator('\uFEFF[instance.a.server]\r\nmodel = "/m"\r\nport = 0\r\n');
    expect(locator.exact(['instance', 'a', 'server', 'port'])).toEqual({ line: 3, column: 1 });
  });
});
