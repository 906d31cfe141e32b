/**
 * Maps key paths of a (syntactically valid) TOML document back to source
 * positions, because smol-toml returns plain values without locations and a
 * schema error is only useful when it names the line. It understands `[table]`
 * and `[[array]]` headers, dotted and quoted keys, inline tables and arrays
 * spanning lines — enough to point at the right line, not a full TOML parser.
 *
 * Positions live in a tree of path parts, so recording a key costs its own
 * parts, never the whole path again: the scan is linear in the text, however
 * deep the nesting (a path-string map made 1000 nested tables take a minute).
 * A location-keeping parser (toml-eslint-parser) would parse the file a second
 * time with a full AST for what this single pass gives.
 */

export interface SourcePosition {
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

export type KeyPath = readonly (string | number)[];

export interface TomlLocator {
  /** Position of the path, or of its longest located prefix; undefined when nothing matches. */
  locate(path: KeyPath): SourcePosition | undefined;
  /** Position only when the exact path was written in the file. */
  exact(path: KeyPath): SourcePosition | undefined;
}

interface PathNode {
  at?: SourcePosition;
  children?: Map<string, PathNode>;
}

const isBare = (c: string) => /[A-Za-z0-9_-]/.test(c);

export function createTomlLocator(text: string): TomlLocator {
  const tree: PathNode = {};
  const arrayCounts = new Map<PathNode, number>();
  let i = 0;
  // Line starts, for offset → line/column.
  const lineStarts = [0];
  for (let k = 0; k < text.length; k++) if (text[k] === '\n') lineStarts.push(k + 1);
  const posOf = (offset: number): SourcePosition => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo]! + 1 };
  };
  const child = (node: PathNode, part: string | number): PathNode => {
    node.children ??= new Map();
    const key = String(part);
    let next = node.children.get(key);
    if (!next) {
      next = {};
      node.children.set(key, next);
    }
    return next;
  };
  /** Every prefix keeps its first position; the full key gets this one. */
  const recordUnder = (from: PathNode, parts: readonly (string | number)[], offset: number, overrideLast = true): PathNode => {
    let node = from;
    for (const part of parts) {
      node = child(node, part);
      node.at ??= posOf(offset);
    }
    if (overrideLast) node.at = posOf(offset);
    return node;
  };

  const skipWs = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const skipWsNewlinesComments = () => {
    for (;;) {
      while (i < text.length && /[ \t\r\n]/.test(text[i]!)) i++;
      if (text[i] === '#') {
        while (i < text.length && text[i] !== '\n') i++;
        continue;
      }
      return;
    }
  };
  const skipToLineEnd = () => {
    while (i < text.length && text[i] !== '\n') i++;
  };

  const readString = (): string => {
    const quote = text[i]!;
    if (text.startsWith(quote.repeat(3), i)) {
      const end = text.indexOf(quote.repeat(3), i + 3);
      let stop = end < 0 ? text.length : end + 3;
      // A multi-line string may end with up to two extra quotes ("""a"""").
      while (text[stop] === quote) stop++;
      const value = text.slice(i + 3, stop - 3);
      i = stop;
      return value;
    }
    i++;
    let out = '';
    while (i < text.length && text[i] !== quote && text[i] !== '\n') {
      if (quote === '"' && text[i] === '\\') {
        const next = text[i + 1];
        const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '"': '"', '\\': '\\', e: '\x1b' };
        if (next && simple[next] !== undefined) {
          out += simple[next];
          i += 2;
          continue;
        }
        const len = next === 'u' ? 4 : next === 'U' ? 8 : next === 'x' ? 2 : 0;
        if (len > 0) {
          out += String.fromCodePoint(parseInt(text.slice(i + 2, i + 2 + len), 16) || 0);
          i += 2 + len;
          continue;
        }
      }
      out += text[i];
      i++;
    }
    i++;
    return out;
  };

  /** Reads `a."b c".d`; returns the parts and the offset of the first part. */
  const readKey = (): { parts: string[]; start: number } => {
    const parts: string[] = [];
    const start = i;
    for (;;) {
      skipWs();
      if (text[i] === '"' || text[i] === "'") {
        parts.push(readString());
      } else {
        const from = i;
        while (i < text.length && isBare(text[i]!)) i++;
        if (i === from) break;
        parts.push(text.slice(from, i));
      }
      skipWs();
      if (text[i] !== '.') break;
      i++;
    }
    return { parts, start };
  };

  // Deeper than any config smol-toml accepts (see parse.ts): stop scanning rather than overflow the stack.
  const MAX_NESTING = 1000;
  let nesting = 0;
  const readValue = (node: PathNode) => {
    if (++nesting > MAX_NESTING) {
      i = text.length;
      nesting--;
      return;
    }
    try {
      readValueAt(node);
    } finally {
      nesting--;
    }
  };
  const readValueAt = (node: PathNode) => {
    skipWs();
    const c = text[i];
    if (c === '"' || c === "'") {
      readString();
    } else if (c === '[') {
      i++;
      let index = 0;
      for (;;) {
        skipWsNewlinesComments();
        if (i >= text.length || text[i] === ']') {
          i++;
          return;
        }
        const before = i;
        const item = child(node, index);
        item.at = posOf(i);
        readValue(item);
        index++;
        skipWsNewlinesComments();
        if (text[i] === ',') i++;
        // Only valid TOML gets here, but never spin on a character nothing consumes.
        else if (i === before) i++;
      }
    } else if (c === '{') {
      i++;
      for (;;) {
        skipWsNewlinesComments();
        if (i >= text.length || text[i] === '}') {
          i++;
          return;
        }
        const { parts, start } = readKey();
        if (parts.length === 0) {
          i++;
          continue;
        }
        const key = recordUnder(node, parts, start);
        skipWs();
        if (text[i] === '=') i++;
        readValue(key);
        skipWsNewlinesComments();
        if (text[i] === ',') i++;
      }
    } else {
      while (i < text.length && !/[,\]}\n#]/.test(text[i]!)) i++;
    }
  };

  let table: PathNode = tree;
  if (text.startsWith('\uFEFF')) i = 1;
  while (i < text.length) {
    skipWsNewlinesComments();
    if (i >= text.length) break;
    if (text[i] === '[') {
      const isArray = text[i + 1] === '[';
      i += isArray ? 2 : 1;
      const { parts, start } = readKey();
      const named = recordUnder(tree, parts, start, !isArray);
      if (isArray) {
        const index = arrayCounts.get(named) ?? 0;
        arrayCounts.set(named, index + 1);
        table = child(named, index);
        table.at = posOf(start);
      } else {
        table = named;
      }
      skipToLineEnd();
      continue;
    }
    const { parts, start } = readKey();
    if (parts.length === 0) {
      skipToLineEnd();
      continue;
    }
    const key = recordUnder(table, parts, start);
    skipWs();
    if (text[i] === '=') i++;
    readValue(key);
    skipToLineEnd();
  }

  const find = (path: KeyPath): PathNode[] => {
    const nodes: PathNode[] = [];
    let node: PathNode | undefined = tree;
    for (const part of path) {
      node = node.children?.get(String(part));
      if (!node) break;
      nodes.push(node);
    }
    return nodes;
  };
  return {
    exact(path) {
      const nodes = find(path);
      return nodes.length === path.length && path.length > 0 ? nodes.at(-1)!.at : undefined;
    },
    locate(path) {
      const nodes = find(path);
      for (let n = nodes.length - 1; n >= 0; n--) if (nodes[n]!.at) return nodes[n]!.at;
      return undefined;
    },
  };
}
