import { describe, expect, it } from 'vitest';
import { formatDuration, formatStatusTable } from '../../../src/client/render.js';
import type { InstanceStatus } from '../../../src/supervisor/types.js';

function status(overrides: Partial<InstanceStatus>): InstanceStatus {
  return {
    name: 'a',
    state: 'ready',
    enabled: true,
    pid: 10,
    host: '127.0.0.1',
    port: 8080,
    uptimeMs: 61_000,
    restarts: 0,
    reason: null,
    failureClass: null,
    lastExit: null,
    lastProbe: null,
    argv: [],
    ...overrides,
  };
}

describe('status table', () => {
  it('aligns columns and shows failure class, last exit and reason', () => {
    const text = formatStatusTable([
      status({ name: 'llama-3-8b' }),
      status({
        name: 'b',
        state: 'failed',
        pid: null,
        uptimeMs: null,
        restarts: 2,
        failureClass: 'port-in-use',
        reason: 'port 8081 is already in use',
        lastExit: { code: 1, signal: null, at: 0, class: 'port-in-use', lastLines: [] },
      }),
    ]);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATE\s+PID\s+ADDRESS\s+UPTIME\s+RESTARTS\s+LAST EXIT\s+REASON$/);
    expect(lines[1]).toMatch(/^llama-3-8b\s+ready\s+10\s+127\.0\.0\.1:8080\s+1m01s\s+0\s+-$/);
    expect(lines[2]).toMatch(/^b\s+failed: port-in-use\s+-\s+127\.0\.0\.1:8080\s+-\s+2\s+code 1 \(port-in-use\)\s+port 8081 is already in use$/);
    // the STATE column starts at the same offset on every row
    const col = lines[0]!.indexOf('STATE');
    expect(lines[1]!.slice(col)).toMatch(/^ready/);
    expect(lines[2]!.slice(col)).toMatch(/^failed/);
  });

  it('says how to load instances when there are none', () => {
    expect(formatStatusTable([])).toContain('AUTO_INFER_LLAMA_CPP_CONFIG');
  });

  it('formats durations compactly', () => {
    expect(formatDuration(null)).toBe('-');
    expect(formatDuration(5_400)).toBe('5s');
    expect(formatDuration(3_600_000 * 3 + 60_000 * 7)).toBe('3h07m');
    expect(formatDuration(3_600_000 * 50)).toBe('2d02h');
  });
});
