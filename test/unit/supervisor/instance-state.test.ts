import { describe, expect, it } from 'vitest';
import { InstanceStateMachine, IllegalTransitionError, TRANSITIONS } from '../../../src/supervisor/instance-state.js';
import { INSTANCE_STATES, type TransitionEvent } from '../../../src/supervisor/types.js';

describe('instance state machine', () => {
  it('has a row for every state and only targets known states', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...INSTANCE_STATES].sort());
    for (const targets of Object.values(TRANSITIONS)) for (const t of targets) expect(INSTANCE_STATES).toContain(t);
  });

  it('emits one event per transition with the details', () => {
    const events: TransitionEvent[] = [];
    const machine = new InstanceStateMachine('a', (e) => events.push(e), () => 42, () => 3);
    machine.transition('starting', { reason: 'boot' });
    machine.transition('backoff', { reason: 'exit', pid: 7, exitCode: 1, failureClass: 'crashed' });
    expect(events).toEqual([
      { instance: 'a', from: 'stopped', to: 'starting', reason: 'boot', pid: null, exitCode: null, signal: null, restarts: 3, failureClass: null, at: 42 },
      { instance: 'a', from: 'starting', to: 'backoff', reason: 'exit', pid: 7, exitCode: 1, signal: null, restarts: 3, failureClass: 'crashed', at: 42 },
    ]);
    expect(machine.failureClass).toBe('crashed');
  });

  it('throws on an illegal transition and keeps its state', () => {
    const machine = new InstanceStateMachine('a', () => undefined, () => 0, () => 0);
    expect(() => machine.transition('ready', { reason: 'x' })).toThrow(IllegalTransitionError);
    expect(machine.state).toBe('stopped');
  });
});
