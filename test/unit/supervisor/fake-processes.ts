/**
 * A fake spawn for fast lifecycle tests: children are EventEmitters with
 * stdout/stderr streams that "exit" when told to, or when their process group
 * is signalled like a real llama-server would. No process is started.
 */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import type { ConfigProblem } from '../../../src/config/problem.js';
import { delay, type SupervisorDeps } from '../../../src/supervisor/deps.js';
import type { ProbeResult } from '../../../src/supervisor/probe.js';

export class FakeChild extends EventEmitter {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  exited = false;
  readonly signals: string[] = [];

  constructor(
    readonly pid: number | undefined,
    readonly argv: string[],
    /** What the process does on SIGTERM: exit (a llama-server that loaded its handler) or ignore it (hung). */
    readonly onTerm: 'exit' | 'ignore' = 'exit',
  ) {
    super();
  }

  print(line: string): void {
    this.stdout.write(`${line}\n`);
  }

  /** End like a process: pipes close, then the exit event. */
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.exited) return;
    this.exited = true;
    this.stdout.end();
    this.stderr.end();
    setImmediate(() => this.emit('exit', code, signal));
  }

  receive(signal: NodeJS.Signals | 0): void {
    if (signal === 0 || signal === 'SIGCONT') return;
    this.signals.push(signal);
    if (signal === 'SIGKILL' || (signal === 'SIGTERM' && this.onTerm === 'exit')) this.exit(null, signal);
  }
}

export interface FakeWorld {
  deps: Partial<SupervisorDeps>;
  children: FakeChild[];
  /** The answer of every probe from now on. */
  health: 'ok' | 'loading' | 'refused';
  /** Problems checkFiles reports for the next starts. */
  fileProblems: ConfigProblem[];
  /** How the next child behaves; undefined pid = the spawn fails (ENOENT). */
  next: { pid?: number | undefined; onTerm?: 'exit' | 'ignore' };
  last(): FakeChild;
}

export function fakeWorld(): FakeWorld {
  let nextPid = 1000;
  const world: FakeWorld = {
    children: [],
    health: 'loading',
    fileProblems: [],
    next: {},
    last: () => world.children.at(-1)!,
    deps: {
      spawn: ((command: string, args: string[]) => {
        const pid = 'pid' in world.next ? world.next.pid : nextPid++;
        const child = new FakeChild(pid, [command, ...args], world.next.onTerm);
        world.next = {};
        world.children.push(child);
        if (pid === undefined) {
          child.exited = true;
          child.stdout.end();
          child.stderr.end();
          setImmediate(() => child.emit('error', Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' })));
        }
        return child as unknown as ChildProcess;
      }) as SupervisorDeps['spawn'],
      kill: (pid, signal) => {
        const child = world.children.find((c) => c.pid === Math.abs(pid));
        if (!child || child.exited) throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
        child.receive(signal);
      },
      now: () => Date.now(),
      sleep: delay,
      random: () => 0.5,
      probe: async (): Promise<ProbeResult> => {
        const ok = world.health === 'ok';
        return { ok, status: ok ? 200 : world.health === 'loading' ? 503 : null, loading: world.health === 'loading', refused: world.health === 'refused', latencyMs: 1, error: ok ? null : world.health };
      },
      checkFiles: async () => world.fileProblems,
      portFree: async () => true,
      groupMembers: (pgid) => (world.children.find((c) => c.pid === pgid)?.exited === false ? 1 : 0),
      setpriv: null,
    },
  };
  return world;
}
