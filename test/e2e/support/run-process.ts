import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called for every stdout/stderr line; the build uses it for progress. */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
}

/** Runs a command to completion; rejects with the tail of its output when it fails. */
export async function runProcess(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    signal: opts.signal,
  });
  const tail: string[] = [];
  let stdout = '';
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    opts.onLine?.(line);
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  if (code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${tail.join('\n')}`);
  }
  return stdout;
}
