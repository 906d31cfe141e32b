/**
 * The port check is one pass over the instances; this property pins it to the
 * obvious pairwise definition (each enabled instance against every earlier one,
 * a wildcard host clashing with any host), on random ports, hosts and switches.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPorts } from '../../src/config/semantic.js';
import type { InstanceSpec } from '../../src/config/types.js';
import { fuzzParams } from '../fixtures/fuzz.js';

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]']);
function pairwise(specs: InstanceSpec[]): string[] {
  const enabled = specs.filter((s) => s.enabled);
  const out: string[] = [];
  enabled.forEach((b, i) => {
    const hb = b.host.trim().toLowerCase();
    const clash = enabled.slice(0, i).find((a) => {
      const ha = a.host.trim().toLowerCase();
      return a.port === b.port && (ha === hb || WILDCARDS.has(ha) || WILDCARDS.has(hb));
    });
    if (clash) out.push(`${b.name}->${clash.name}`);
  });
  return out;
}

describe('port check', () => {
  it('reports exactly the clashes the pairwise definition finds, naming the same earlier instance', () => {
    const spec = fc.record({ port: fc.integer({ min: 8080, max: 8083 }), host: fc.constantFrom('127.0.0.1', ' 127.0.0.1', '0.0.0.0', '::', '[::]', '', '10.0.0.1', 'LOCALHOST', 'localhost'), enabled: fc.boolean() });
    fc.assert(
      fc.property(fc.array(spec, { maxLength: 12 }), (raw) => {
        const specs = raw.map((r, k) => ({ ...r, name: `i${k}` }) as unknown as InstanceSpec);
        const got = checkPorts(specs, (name) => ['instance', name, 'server', 'port']).map((p) => `${p.instance}->${/instance "([^"]+)"/.exec(p.message)![1]}`);
        expect(got).toEqual(pairwise(specs));
      }),
      fuzzParams(500),
    );
  });
});
