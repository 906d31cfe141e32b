import { describe, expect, it } from 'vitest';
import { InstanceStateMachine, IllegalTransitionError, TRANSITIONS, canTransition } from '../../../src/supervisor/instance-state.js';
import { INSTANCE_STATES, type TransitionEvent } from '../../../src/supervisor/types.js';

describe('instance state machine', () => {
  it('pins what the transitions mean', () => {
    // A start that cannot even spawn fails from 'starting': an instance never fails without trying.
    expect(canTransition('stopped', 'failed')).toBe(false);
    expect(TRANSITIONS.stopped).toEqual(['starting']);
    // Readiness comes only from a running process: never straight out of a wait or a stop.
    for (const from of ['stopped', 'backoff', 'failed', 'stopping'] as const) expect(canTransition(from, 'ready'), from).toBe(false);
    // A process being stopped can only end: stopped (asked to), or backoff/failed (killed by the supervisor to restart).
    expect([...TRANSITIONS.stopping].sort()).toEqual(['backoff', 'failed', 'stopped']);
    // A failed instance can be started again (start, restart, a reload after a fix) or put to rest.
    expect([...TRANSITIONS.failed].sort()).toEqual(['starting', 'stopped']);
    // Every state can be left towards a stop, so 'stop' always ends in 'stopped'.
    for (const from of INSTANCE_STATES) if (from !== 'stopped') expect(canTransition(from, 'stopped') || canTransition(from, 'stopping'), from).toBe(true);
  });

  it('refuses stopped → failed with the bug error and keeps the state', () => {
    const machine = new InstanceStateMachine('a', () => undefined, () => 0, () => 0);
    expect(() => machine.transition('failed', { reason: 'x' })).toThrow(/cannot go from stopped to failed/);
    expect(machine.state).toBe('stopped');
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
