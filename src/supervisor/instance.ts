/**
 * One supervised llama-server: spawn → probe → ready → liveness, exits,
 * restarts with backoff, stops. The state itself is only written through
 * InstanceStateMachine; this file decides *when*.
 */
import type { Logger } from 'pino';
import { keyPathString, type ConfigProblem } from '../config/problem.js';
import type { InstanceSpec } from '../config/types.js';
import { redactArgv } from '../redact.js';
import { terminateGroup, watchExit, type Exited } from './child-exit.js';
import { SPAWN_FAILED_CLASS, classifyExit, classifyPrecheck, isCleanExit } from './classify.js';
import type { SupervisorDeps } from './deps.js';
import { InstanceOutput } from './instance-output.js';
import { canTransition, InstanceStateMachine, type TransitionDetails } from './instance-state.js';
import { monitorHealth, type MonitorVerdict } from './monitor.js';
import { childEnv, signalGroup, spawnGroup, waitGroupGone } from './process-group.js';
import { RestartTracker } from './restart-policy.js';
import type { ExitInfo, FailureClass, InstanceState, InstanceStatus, ProbeInfo, TransitionEvent } from './types.js';

/** Lines of output kept with an exit for classification and status. */
const LAST_LINES = 20;

export interface InstanceContext {
  deps: SupervisorDeps;
  log: Logger;
  baseEnv: NodeJS.ProcessEnv;
  ringLines: number;
  outputLevel: 'info' | 'debug';
  onTransition(event: TransitionEvent): void;
  onProbe(instance: string, probe: ProbeInfo): void;
}

type AttemptOutcome =
  | { kind: 'stopped' }
  | { kind: 'precheck'; cls: FailureClass; reason: string }
  | { kind: 'exited'; pid: number | null; exit: Exited; cls: FailureClass | null; reason: string; wasReady: boolean; killedBy: FailureClass | null };

export class Instance {
  readonly machine: InstanceStateMachine;
  readonly output: InstanceOutput;
  #tracker: RestartTracker;
  #restarts = 0;
  #pid: number | null = null;
  #readyAt: number | null = null;
  #lastExit: ExitInfo | null = null;
  /** ring.pushed when the current run was spawned. */
  #runFirstLine = 0;
  #lastProbe: ProbeInfo | null = null;
  #run: { ctl: AbortController; done: Promise<void>; immediate: boolean } | null = null;
  /** Ends the current backoff wait early (a manual start). */
  #wake: AbortController | null = null;
  /** Starts that cut a backoff short, told once the instance has left it. */
  #leftBackoff: (() => void)[] = [];
  /** Counts stop requests: a start waiting for the previous run to end is dropped if one came after it. */
  #stops = 0;

  constructor(
    public spec: InstanceSpec,
    public enabled: boolean,
    private readonly ctx: InstanceContext,
  ) {
    const { deps } = ctx;
    this.machine = new InstanceStateMachine(spec.name, ctx.onTransition, () => deps.now(), () => this.#restarts);
    this.output = new InstanceOutput(spec.name, ctx.log, ctx.ringLines, () => deps.now(), spec.secrets, ctx.outputLevel);
    this.output.configure(spec.secrets, spec.logFile, spec.daemonLog);
    this.#tracker = new RestartTracker(spec.supervision, () => deps.random());
  }

  get name(): string {
    return this.spec.name;
  }
  get state(): InstanceState {
    return this.machine.state;
  }

  updateSpec(spec: InstanceSpec, enabled: boolean): void {
    this.spec = spec;
    this.enabled = enabled;
    this.#tracker.update(spec.supervision);
    this.output.configure(spec.secrets, spec.logFile, spec.daemonLog);
  }

  status(): InstanceStatus {
    const state = this.machine.state;
    const live = state === 'ready' || state === 'unhealthy';
    return {
      name: this.spec.name,
      state,
      enabled: this.enabled,
      pid: this.#pid,
      host: this.spec.host,
      port: this.spec.port,
      uptimeMs: live && this.#readyAt !== null ? Math.max(0, this.ctx.deps.now() - this.#readyAt) : null,
      restarts: this.#restarts,
      reason: this.machine.reason,
      failureClass: this.machine.failureClass,
      lastExit: this.#lastExit,
      lastProbe: this.#lastProbe,
      argv: redactArgv([this.spec.executable, ...this.spec.args], this.spec.secrets),
    };
  }

  /**
   * Start from stopped/failed, or cut a backoff short (a no-op while a process runs). A manual
   * start forgives past crash loops. Resolves once a backoff cut short has been left.
   */
  start(reason: string): Promise<void> {
    const running = this.#run;
    if (running !== null) {
      // The run has ended (stopped or failed is reported) but is still closing the log file: start
      // after it. Ignoring the start here lost it: the router asks for one from the 'stopped' event
      // when a request arrived during an unload, and its queue waited until its deadline.
      // A stop asked in the meantime (the daemon shutting down) wins.
      if (this.machine.state === 'stopped' || this.machine.state === 'failed') {
        const stops = this.#stops;
        return running.done.then(() => (this.#stops === stops ? this.start(reason) : undefined));
      }
      if (this.machine.state !== 'backoff' || this.#wake === null) return Promise.resolve();
      this.#tracker.reset();
      const left = new Promise<void>((resolve) => this.#leftBackoff.push(resolve));
      this.#wake.abort(reason);
      return left;
    }
    this.#tracker.reset();
    this.#transition('starting', { reason });
    const ctl = new AbortController();
    const run = { ctl, immediate: false, done: Promise.resolve() };
    run.done = this.#supervise(ctl.signal)
      .catch((error: unknown) => this.#internalError(error))
      .finally(async () => {
      // A stopped or failed instance writes nothing more: the log file is complete on disk.
      await this.output.closeFile();
      if (this.#run === run) this.#run = null;
      this.#flushLeftBackoff();
    });
    this.#run = run;
    return Promise.resolve();
  }

  /** Stop and wait until every process of the group is gone. immediate: SIGKILL now (also escalates a stop in progress). */
  async stop(reason: string, immediate = false): Promise<void> {
    this.#stops++;
    const run = this.#run;
    if (run === null) {
      if (this.machine.state === 'failed') this.#transition('stopped', { reason });
      return;
    }
    if (immediate) {
      run.immediate = true;
      if (this.#pid !== null) signalGroup(this.ctx.deps, this.#pid, 'SIGKILL');
    }
    if (!run.ctl.signal.aborted) run.ctl.abort(new StopRequest(reason));
    await run.done;
  }

  /** A bug or an unexpected error (a throwing file check): never leave a process unsupervised, never crash the daemon. */
  #internalError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.ctx.log.error({ step: 'supervise', instance: this.spec.name, err: error }, `supervision of ${this.spec.name} failed: ${message}`);
    if (this.#pid !== null) signalGroup(this.ctx.deps, this.#pid, 'SIGKILL');
    this.#pid = null;
    if (canTransition(this.machine.state, 'failed')) {
      this.machine.transition('failed', { reason: `internal error: ${message}`, failureClass: 'crashed' });
    }
  }

  #flushLeftBackoff(): void {
    for (const resolve of this.#leftBackoff.splice(0)) resolve();
  }

  #transition(to: InstanceState, details: TransitionDetails): void {
    this.machine.transition(to, { pid: this.#pid, ...details });
  }

  async #supervise(signal: AbortSignal): Promise<void> {
    for (;;) {
      const outcome = await this.#attempt(signal);
      if (outcome.kind === 'stopped') return;
      if (outcome.kind === 'precheck') {
        // Nothing was spawned and retrying cannot help: fail at once, no restart storm.
        this.#transition('failed', { reason: outcome.reason, failureClass: outcome.cls });
        return;
      }
      const { exit, cls, wasReady, killedBy } = outcome;
      // The events of an exit name the process that exited; status shows no pid from now on. Without
      // the output in the daemon log, the exit carries its last lines there: a crash stays explained.
      const lastLines = this.spec.daemonLog ? {} : { lastLines: this.#lastExit?.lastLines ?? [] };
      const exitDetails = { pid: outcome.pid, exitCode: exit.code, signal: exit.signal, failureClass: cls, ...lastLines };
      this.#pid = null;
      if (signal.aborted) {
        this.#transition('stopped', { reason: stopReason(signal), ...exitDetails });
        return;
      }
      if (!wasReady) this.#tracker.noteUnreadyExit();
      const policy = this.spec.supervision.restart;
      const clean = killedBy === null && isCleanExit(exit);
      if (policy === 'never' || (policy === 'on-failure' && clean)) {
        this.#transition(clean ? 'stopped' : 'failed', { reason: `${outcome.reason}; restart policy '${policy}'`, ...exitDetails });
        return;
      }
      const decision = this.#tracker.decide(this.ctx.deps.now(), cls);
      if (!decision.restart) {
        this.#transition('failed', { reason: `${outcome.reason}; ${decision.reason}`, ...exitDetails });
        return;
      }
      this.#transition('backoff', { reason: `${outcome.reason}; ${decision.reason}`, ...exitDetails });
      // The wait ends early on a stop (the run's signal) or a manual start (wake).
      const wake = new AbortController();
      const onStop = () => wake.abort();
      signal.addEventListener('abort', onStop, { once: true });
      this.#wake = wake;
      try {
        await this.ctx.deps.sleep(decision.delayMs, wake.signal);
      } catch {
        // stopped or woken: told apart below
      } finally {
        this.#wake = null;
        signal.removeEventListener('abort', onStop);
      }
      if (signal.aborted) {
        this.#transition('stopped', { reason: stopReason(signal) });
        this.#flushLeftBackoff();
        return;
      }
      this.#restarts += 1;
      const why = wake.signal.aborted ? String(wake.signal.reason) : `after ${cls ?? 'exit'}`;
      this.#transition('starting', { reason: `restart ${this.#restarts} ${why}` });
      this.#flushLeftBackoff();
    }
  }

  /** One process from precheck to exit: each step returns the outcome that ends the attempt. */
  async #attempt(signal: AbortSignal): Promise<AttemptOutcome> {
    const refused = await this.#precheck(signal);
    if (refused !== null) return refused;
    const { pid, exited } = this.#spawn();
    if (pid === undefined) return this.#spawnFailed(exited);
    const first = await this.#watch(exited, signal);
    const wasReady = this.#readyAt !== null;
    this.#readyAt = null;
    if (first === 'abort') return this.#stopOnRequest(pid, exited, signal);
    if ('verdict' in first && first.verdict !== null) return this.#killOnVerdict(pid, exited, first.verdict, wasReady);
    return this.#reapExited(pid, 'exit' in first ? first.exit : await exited, wasReady);
  }

  /** File and port checks before spawning: a start that cannot work fails without a process. */
  async #precheck(signal: AbortSignal): Promise<AttemptOutcome | null> {
    const { deps } = this.ctx;
    const spec = this.spec;
    const found = await deps.checkFiles(spec);
    if (signal.aborted) return this.#stoppedBeforeSpawn(signal);
    // An unusable log file must not keep a model from serving: the output still reaches the daemon log
    // (with daemon_log = false too: the ring alone would lose it).
    const logFileProblems = found.filter(isLogFileProblem);
    for (const p of logFileProblems) {
      const instead = spec.daemonLog ? '' : '; its output goes to the daemon log instead (daemon_log = false needs a log file)';
      this.ctx.log.warn({ step: 'supervise', instance: spec.name, key: keyPathString(p.path) }, `${p.message}${instead}`);
    }
    if (logFileProblems.length > 0) this.output.fileUnusable();
    const problems = found.filter((p) => !isLogFileProblem(p));
    if (problems.length > 0) return { kind: 'precheck', cls: classifyPrecheck(problems), reason: problems.map((p) => p.message).join('; ') };
    if (!(await deps.portFree(spec.host, spec.port))) {
      if (signal.aborted) return this.#stoppedBeforeSpawn(signal);
      return { kind: 'precheck', cls: 'port-in-use', reason: `port ${spec.port} on ${spec.host} is already in use by another process` };
    }
    if (signal.aborted) return this.#stoppedBeforeSpawn(signal);
    return null;
  }

  #spawn(): { pid: number | undefined; exited: Promise<Exited> } {
    const { deps } = this.ctx;
    const spec = this.spec;
    // The ring holds earlier runs too: an exit is classified from this run's lines only.
    this.#runFirstLine = this.output.ring.pushed;
    const child = spawnGroup(deps, spec, childEnv(this.ctx.baseEnv, spec));
    const exited = watchExit(child, this.output, spec.executable, deps.sleep);
    if (child.pid !== undefined) {
      this.#pid = child.pid;
      this.#readyAt = null;
      this.ctx.log.debug({ step: 'supervise', instance: spec.name, pid: child.pid, setpriv: deps.setpriv !== null }, 'spawned');
    }
    return { pid: child.pid, exited };
  }

  async #spawnFailed(exited: Promise<Exited>): Promise<AttemptOutcome> {
    const exit = await exited;
    this.#lastExit = this.#exitInfo(exit, SPAWN_FAILED_CLASS);
    return { kind: 'exited', pid: null, exit, cls: SPAWN_FAILED_CLASS, reason: `cannot execute ${this.spec.executable}`, wasReady: false, killedBy: null };
  }

  /** Probe the running process until it exits, the monitor gives a verdict, or a stop is requested. */
  async #watch(exited: Promise<Exited>, signal: AbortSignal): Promise<'abort' | { exit: Exited } | { verdict: MonitorVerdict | null }> {
    const { deps } = this.ctx;
    const spec = this.spec;
    const monitorCtl = new AbortController();
    const stopMonitor = () => monitorCtl.abort();
    signal.addEventListener('abort', stopMonitor, { once: true });
    const verdict = monitorHealth({
      spec,
      deps,
      signal: monitorCtl.signal,
      lastOutputAt: () => this.output.lastOutputAt,
      subscribeOutput: (onOutput) => this.output.onActivity(onOutput),
      onProbe: (probe) => {
        this.#lastProbe = probe;
        this.ctx.onProbe(spec.name, probe);
      },
      onReady: () => {
        this.#readyAt = deps.now();
        this.#tracker.noteReady();
        this.#transition('ready', { reason: this.machine.state === 'unhealthy' ? 'health probe passes again' : 'health probe answered 200' });
      },
      onUnhealthy: (reason) => this.#transition('unhealthy', { reason }),
      onStable: () => this.#tracker.noteStable(),
    });
    // Listeners on the run's signal are removed after each attempt: a run can span many restarts.
    let onAbort = () => undefined as void;
    const aborted = new Promise<'abort'>((resolve) => {
      onAbort = () => resolve('abort');
      if (signal.aborted) resolve('abort');
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([exited.then((exit) => ({ exit })), verdict.then((v) => ({ verdict: v })), aborted]);
    } finally {
      monitorCtl.abort();
      signal.removeEventListener('abort', stopMonitor);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** A stop request: the process group goes down, the instance is stopped. */
  async #stopOnRequest(pid: number, exited: Promise<Exited>, signal: AbortSignal): Promise<AttemptOutcome> {
    const reason = stopReason(signal);
    this.#transition('stopping', { reason });
    const exit = await this.#terminate(pid, exited);
    this.#pid = null;
    this.#lastExit = this.#exitInfo(exit, null);
    this.#transition('stopped', { reason, pid, exitCode: exit.code, signal: exit.signal });
    return { kind: 'stopped' };
  }

  /** The monitor gave up on the process (startup timeout, liveness): kill it, with the monitor's class. */
  async #killOnVerdict(pid: number, exited: Promise<Exited>, verdict: MonitorVerdict, wasReady: boolean): Promise<AttemptOutcome> {
    const { cls, reason } = verdict;
    this.#transition('stopping', { reason, failureClass: cls });
    const exit = await this.#terminate(pid, exited);
    this.#lastExit = this.#exitInfo(exit, cls);
    return { kind: 'exited', pid, exit, cls, reason, wasReady, killedBy: cls };
  }

  /**
   * The process exited by itself. The leader is gone; its group may not be (a CUDA server still exiting
   * holds GPU memory and the port): orphaned members get SIGTERM now (SIGCONT too, so a stopped one can
   * act on it), SIGKILL after the grace period.
   */
  async #reapExited(pid: number, exit: Exited, wasReady: boolean): Promise<AttemptOutcome> {
    const { deps } = this.ctx;
    signalGroup(deps, pid, 'SIGTERM');
    signalGroup(deps, pid, 'SIGCONT');
    await waitGroupGone(deps, pid, this.spec.supervision.stopGraceMs);
    const info = this.#exitInfo(exit, undefined);
    this.#lastExit = info;
    return { kind: 'exited', pid, exit, cls: info.class, reason: describeExit(exit, info.class), wasReady, killedBy: null };
  }

  #stoppedBeforeSpawn(signal: AbortSignal): AttemptOutcome {
    this.#transition('stopped', { reason: stopReason(signal) });
    return { kind: 'stopped' };
  }

  #terminate(pid: number, exited: Promise<Exited>): Promise<Exited> {
    const { deps, log } = this.ctx;
    return terminateGroup({ deps, log, instance: this.spec.name, pid, exited, graceMs: this.spec.supervision.stopGraceMs, immediate: () => this.#run?.immediate ?? false });
  }

  #exitInfo(exit: Exited, cls: FailureClass | null | undefined): ExitInfo {
    const lastLines = this.output.ring.last(Math.min(LAST_LINES, this.output.ring.pushed - this.#runFirstLine));
    return {
      code: exit.code,
      signal: exit.signal,
      at: this.ctx.deps.now(),
      class: cls === undefined ? classifyExit(exit, lastLines) : cls,
      lastLines,
    };
  }

}

class StopRequest extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

function stopReason(signal: AbortSignal): string {
  return signal.reason instanceof StopRequest ? signal.reason.reason : 'stop requested';
}

function isLogFileProblem(problem: ConfigProblem): boolean {
  return problem.subject === 'log-file';
}

function describeExit(exit: Exited, cls: FailureClass | null): string {
  const how = exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return cls === null ? how : `${how} (${cls})`;
}

