/** The route table both listeners dispatch through: method + pattern → handler. */
import type { Route, RouteHandler, RouteParams } from './types.js';

export class RouteTable {
  private readonly routes: Array<Route & { parts: string[] }> = [];
  /** Set by follow(): a reconfigured router's table, which answers instead of this one. */
  private next: RouteTable | null = null;

  /**
   * From now on `next` answers every match, so a listener kept across a reconfiguration (and its
   * open keep-alive connections) reaches the new router's handlers.
   */
  follow(next: RouteTable): void {
    this.next = next;
  }

  add(method: string, pattern: string, handler: RouteHandler): this {
    this.routes.push({ method: method.toUpperCase(), pattern, handler, parts: pattern.split('/').filter(Boolean) });
    return this;
  }

  list(): Route[] {
    return this.routes.map(({ method, pattern, handler }) => ({ method, pattern, handler }));
  }

  /** First route added wins; `path` without the query string. */
  match(method: string, path: string): { handler: RouteHandler; params: RouteParams } | undefined {
    if (this.next) {
      // Reloads chain tables; keep each old one pointing straight at the newest.
      while (this.next.next) this.next = this.next.next;
      return this.next.match(method, path);
    }
    const segments = path.split('/').filter(Boolean);
    for (const route of this.routes) {
      if (route.method !== '*' && route.method !== method.toUpperCase()) continue;
      const params = matchParts(route.parts, segments);
      if (params) return { handler: route.handler, params };
    }
    return undefined;
  }
}

function matchParts(parts: string[], segments: string[]): RouteParams | undefined {
  const params: RouteParams = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '*' && i === parts.length - 1) {
      // The rest is passed on (/upstream/{model}/...), so it stays as the client encoded it.
      params['*'] = segments.slice(i).join('/');
      return params;
    }
    const segment = segments[i];
    if (segment === undefined) return undefined;
    if (part.startsWith(':')) params[part.slice(1)] = decode(segment);
    else if (part !== segment) return undefined;
  }
  return segments.length === parts.length ? params : undefined;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
