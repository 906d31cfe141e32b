import { describe, expect, it } from 'vitest';
import { DaemonPhase } from '../../../src/boot/daemon-phase.js';

describe('the daemon phase', () => {
  it('goes running → stopping → forced and never back', () => {
    const phase = new DaemonPhase();
    expect(phase.current).toBe('running');
    expect(phase.stopRequested).toBe(false);
    expect(phase.beginStop()).toBe(true);
    expect(phase.current).toBe('stopping');
    // A second reason to stop (the CMD exiting after the signal) does not begin another stop.
    expect(phase.beginStop()).toBe(false);
    expect(phase.current).toBe('stopping');
    expect(phase.advance()).toBe(true);
    expect(phase.current).toBe('forced');
    expect(phase.advance()).toBe(false);
    expect(phase.beginStop()).toBe(false);
    expect(phase.current).toBe('forced');
  });
});
