/**
 * zod issues → problems people can act on: `what is wrong (expected X, got Y)`,
 * one per unknown key, with a "did you mean" when a known key is close.
 */
import type { z } from 'zod';
import type { DraftProblem } from './problem.js';
import { suggest } from './did-you-mean.js';
import { secretSettingOf } from '../redact.js';
import { KNOWN_KEYS } from './schema.js';

type Issue = z.core.$ZodIssue & { input?: unknown };


/** A value as a user would recognise it from their file. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (Array.isArray(value)) return `a list (${value.length} item${value.length === 1 ? '' : 's'})`;
  if (typeof value === 'object') return 'a table';
  return typeof value;
}

/** What a value is, without showing it (for secrets). TOML tables are objects, TOML dates are Dates. */
function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  if (value !== null && typeof value === 'object') return 'a table';
  return typeof value === 'boolean' ? 'a boolean' : `a ${typeof value}`;
}

const TYPE_NAMES: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a table',
  array: 'a list',
};

/** Which key list applies to the table at this path. */
function knownKeysAt(path: readonly PropertyKey[]): readonly string[] | undefined {
  if (path.length === 0) return KNOWN_KEYS.root;
  if (path.length === 1 && path[0] === 'master') return KNOWN_KEYS.master;
  if (path[0] !== 'instance') return undefined;
  if (path.length === 2 && path[1] === 'control') return KNOWN_KEYS.control;
  if (path.length === 2) return KNOWN_KEYS.instance;
  if (path.length === 3 && path[2] === 'control') return KNOWN_KEYS.control;
  return undefined;
}

function unknownKeyMessage(tablePath: readonly PropertyKey[], key: string): string {
  const known = knownKeysAt(tablePath) ?? [];
  const guess = suggest(key, known);
  const where = tablePath.length === 0 ? 'at the top level' : `in [${tablePath.map(String).join('.')}]`;
  if (tablePath.length === 2 && tablePath[0] === 'instance' && tablePath[1] !== 'control' && tablePath[1] !== 'server') {
    // `[instance.x] port = 1`: the user probably meant the server table.
    const server = KNOWN_KEYS.server.includes(key) ? `; llama-server flags go in [${tablePath.map(String).join('.')}.server]` : '';
    return `unknown key "${key}" ${where} (expected "control" or "server"${guess ? `; did you mean "${guess}"?` : ''}${server})`;
  }
  const list = known.length <= 4 ? `expected one of ${known.map((k) => `"${k}"`).join(', ')}` : 'expected a key listed in docs/config.md';
  return `unknown key "${key}" ${where} (${guess ? `did you mean "${guess}"?` : list})`;
}

export function issuesToProblems(issues: readonly Issue[]): DraftProblem[] {
  const problems: DraftProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
    // Never echo a secret into a message that ends up in logs, even a mistyped one.
    const got = secretSettingOf(String(path.at(-1) ?? '')) ? `${kindOf(issue.input)} (value not shown)` : describeValue(issue.input);
    const instance = path[0] === 'instance' && path.length >= 2 && path[1] !== 'control' && path[1] !== 'server' ? String(path[1]) : undefined;
    const push = (p: (string | number)[], message: string) => problems.push({ path: p, message, kind: 'schema', subject: 'setting', ...(instance ? { instance } : {}) });
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) push([...path, key], unknownKeyMessage(issue.path, key));
        break;
      case 'invalid_type': {
        const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
        if (path.length === 2 && path[0] === 'instance' && issue.expected === 'object') {
          push(path, `"${String(path[1])}" is not a table, but every key of [instance] other than control and server names an instance (expected [instance.${String(path[1])}.server] with its flags, got ${got})`);
        } else {
          push(path, `wrong type (expected ${expected}, got ${got})`);
        }
        break;
      }
      case 'too_small': {
        const min = Number(issue.minimum);
        if (issue.origin === 'string') push(path, `empty value (expected a non-empty string, got ${got})`);
        else push(path, `too small (expected ${issue.inclusive === false ? '>' : '≥'} ${min}, got ${got})`);
        break;
      }
      case 'too_big': {
        const max = Number(issue.maximum);
        push(path, `too large (expected ${issue.inclusive === false ? '<' : '≤'} ${max}, got ${got})`);
        break;
      }
      case 'invalid_value':
        push(path, `not an allowed value (expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${got})`);
        break;
      case 'invalid_format':
      case 'invalid_union':
      case 'custom': {
        const expected = issue.message.startsWith('expected ') ? issue.message : `expected ${issue.message}`;
        push(path, `invalid value (${expected}, got ${got})`);
        break;
      }
      default:
        push(path, `${issue.message} (got ${got})`);
    }
  }
  return problems;
}
