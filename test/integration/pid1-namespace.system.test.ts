/**
 * infer-entry as PID 1 of a fresh PID namespace (what it is in a container): signals from outside
 * reach it only through explicit handlers, exit statuses propagate, and under tini orphans are reaped.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { need } from '../fixtures/need-tool.js';
import { MAIN, alive, baseEnv, exitWithin, killAll, makeRoot, startProcess, waitFor, type Running } from '../unit/control/harness.js';

/** The namespace's PID 1, seen from here: the only child of `unshare --fork`. */
function namespaceInit(unsharePid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return children[0];
  } catch {
    return undefined;
  }
}

/** How many zombies the namespace holds; the CMD's own exit status, so the test can read it. */
const COUNT_ZOMBIES = `(sleep 0.2 &) ; sleep 1.2; n=0; for f in /proc/[0-9]*/stat; do s=$(cut -d')' -f2 "$f" 2>/dev/null | cut -d' ' -f2); [ "$s" = Z ] && n=$((n+1)); done; exit $n`;

let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-pid1-');
});
afterEach(async () => {
  await killAll(running.map((r) => r.child.pid!).filter((pid) => alive(pid)));
  running = [];
  await fs.rm(root, { recursive: true, force: true });
});

function inNamespace(args: string[]): Running {
  const unshare = need('unshare', 'util-linux');
  const r = startProcess(unshare, ['--pid', '--fork', '--mount-proc', ...args], baseEnv(root));
  running.push(r);
  return r;
}

describe('boot as PID 1 in a fresh PID namespace', () => {
  it('propagates the exit status of the CMD', async () => {
    const r = inNamespace([process.execPath, MAIN, 'boot', '--', 'sh', '-c', 'echo "pid=$PPID"; exit 9']);
    expect((await exitWithin(r)).code).toBe(9);
    // the CMD's parent is infer-entry, which is PID 1 of the namespace
    expect(r.output()).toContain('pid=1\n');
  });

  it('handles SIGTERM sent from outside the namespace (PID 1 drops unhandled signals) and exits 0', async () => {
    const r = inNamespace([process.execPath, MAIN, 'boot']);
    await waitFor('the control socket', () => fs.stat(`${root}/run/infer-entry.sock`).then(() => true, () => false));
    const init = await waitFor('the namespace init', () => namespaceInit(r.child.pid!));
    process.kill(init, 'SIGTERM');
    expect((await exitWithin(r)).code).toBe(0);
    expect(r.logs().some((l) => l.msg === 'stopping' && l.signal === 'SIGTERM')).toBe(true);
  });

  it('under tini: signals reach boot, the status propagates, and orphaned zombies are reaped', async () => {
    const tini = need('tini', 'tini');
    const reaped = inNamespace([tini, '--', process.execPath, MAIN, 'boot', '--', 'sh', '-c', COUNT_ZOMBIES]);
    expect((await exitWithin(reaped)).code).toBe(0);

    const daemon = inNamespace([tini, '--', process.execPath, MAIN, 'boot']);
    await waitFor('the control socket', () => fs.stat(`${root}/run/infer-entry.sock`).then(() => true, () => false));
    const init = await waitFor('tini', () => namespaceInit(daemon.child.pid!));
    process.kill(init, 'SIGTERM');
    expect((await exitWithin(daemon)).code).toBe(0);
  });

  it('without tini an orphan of the CMD stays a zombie (the documented caveat)', async () => {
    const r = inNamespace([process.execPath, MAIN, 'boot', '--', 'sh', '-c', COUNT_ZOMBIES]);
    expect((await exitWithin(r)).code).toBe(1);
  });
});
