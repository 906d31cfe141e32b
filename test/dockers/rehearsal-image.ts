/**
 * The image of dockers/infer-dev/Dockerfile laid out in a temp dir, for the rehearsal: what its
 * runtime stage creates (directories, the `infer` user's ownership, links), what it copies from the
 * build stage (/opt/infer-entry with production dependencies only, as `npm prune --omit=dev` leaves
 * them) and the shims. Nothing of the repository is used in place, so the rehearsal also proves the
 * image runs without devDependencies and, as the non-root user, with only /soft/app writable.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { REPO, SHIMS, SHIMS_DIR, type Instruction } from './support.js';

/** A container path → where it lives in the rehearsal. */
export function mapper(fsRoot: string): (text: string) => string {
  const prefixes = ['/opt/infer-entry', '/usr/local/bin', '/soft/app', '/models', '/config', '/pkg', '/entrypoint.sh'];
  return (text) => {
    for (const from of prefixes) text = text.replace(new RegExp(`(^|[\\s="':])${from}(?=/|$|[\\s"'])`, 'g'), `$1${path.join(fsRoot, from)}`);
    return text;
  };
}

/** `ARG NAME=default` of the runtime stage. */
export function argDefault(runtime: Instruction[], name: string): string {
  const arg = runtime.find((i) => i.keyword === 'ARG' && i.args.startsWith(`${name}=`));
  if (!arg) throw new Error(`the runtime stage has no ARG ${name}=default`);
  return arg.args.slice(name.length + 1).replace(/^"(.*)"$/, '$1');
}

/** Top-level packages `npm prune --omit=dev` keeps (nested ones travel inside their parent's dir). */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([key, meta]) => key.startsWith('node_modules/') && key.split('node_modules/').length === 2 && !meta.dev)
    .map(([key]) => key);
}

export interface ImageUser {
  name: string;
  uid: number;
}

/**
 * Lays out the runtime stage under `fsRoot`. With `user`, /soft/app belongs to it as the Dockerfile's
 * `chown -R infer:infer /soft/app` makes it (not the shims directory, made after the chown); everything
 * else stays root's and read-only to it.
 */
export async function layOutImage(fsRoot: string, runtime: Instruction[], user?: ImageUser): Promise<void> {
  const map = mapper(fsRoot);
  await fs.chmod(fsRoot, 0o755);
  const runs = runtime.filter((i) => i.keyword === 'RUN').map((i) => i.args).join(' ');
  // `mkdir [-p] [-m MODE] DIR...` and `chown -R U:G DIR...` in the order the RUN line has them: a
  // directory made after the chown (the shims') stays root's, as in the image.
  let chowned = 0;
  for (const m of runs.matchAll(/mkdir (?:-p |-m [0-7]+ )*((?:\/\S+ ?)+)|chown -R [\w-]+:[\w-]+ ((?:\/\S+ ?)+)/g)) {
    if (m[1]) for (const dir of m[1].trim().split(/\s+/)) await fs.mkdir(map(dir), { recursive: true });
    else if (user) {
      for (const dir of m[2]!.trim().split(/\s+/)) await chownTree(map(dir), user.uid);
      chowned++;
    }
  }
  if (user && chowned === 0) throw new Error('the Dockerfile gives the non-root user no directory (chown -R): update the rehearsal');
  await fs.mkdir(map('/usr/local/bin'), { recursive: true });

  for (const copy of runtime.filter((i) => i.keyword === 'COPY' && i.args.startsWith('--from='))) {
    const [stage, from, to] = copy.args.split(/\s+/);
    if (stage === '--from=node') {
      await fs.symlink(process.execPath, map(to!));
      continue;
    }
    if (stage !== '--from=build' || !from!.startsWith('/src/')) throw new Error(`COPY not understood: ${copy.args}`);
    const source = path.join(REPO, from!.slice('/src/'.length));
    if (path.basename(source) === 'node_modules') {
      for (const pkg of productionPackages()) await fs.cp(path.join(REPO, pkg), path.join(map(to!), pkg.slice('node_modules/'.length)), { recursive: true, verbatimSymlinks: true });
    } else {
      await fs.cp(source, map(to!), { recursive: true, verbatimSymlinks: true });
    }
  }
  const shimCopy = runtime.find((i) => i.keyword === 'COPY' && i.args.includes(path.relative(REPO, SHIMS_DIR)))!;
  for (const shim of SHIMS) await fs.copyFile(path.join(SHIMS_DIR, shim), path.join(map(shimCopy.args.split(/\s+/).at(-1)!), shim));
  for (const m of runs.matchAll(/ln -s (\S+) (\S+)/g)) await fs.symlink(map(m[1]!), map(m[2]!));

}

async function chownTree(dir: string, uid: number): Promise<void> {
  await fs.lchown(dir, uid, uid);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, uid);
    else await fs.lchown(full, uid, uid);
  }
}

/** argv run as the image's USER: `setpriv` as docker does for USER (uid, gid, no supplementary groups). */
export function asUser(argv: string[], user: ImageUser | undefined): string[] {
  return user ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.uid}`, '--clear-groups', '--', ...argv] : argv;
}

/** The uid a process runs as (/proc/PID/status `Uid:`, the real uid). */
export function uidOf(pid: number): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
    return line ? Number(line.split(/\s+/)[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The `docker exec` (and podman / kubectl exec) command lines of the image README's code blocks. */
export function execLines(readme: string): string[][] {
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const lines: string[][] = [];
  for (const line of blocks.flatMap((b) => b.split('\n')).map((l) => l.trim())) {
    const m = /^(?:docker|podman) exec (?:-\S+ )*infer-dev (.+)$/.exec(line) ?? /^kubectl exec (?:-\S+ )*deploy\/infer-dev -- (.+)$/.exec(line);
    if (!m) continue;
    if (/["'`$|&;]/.test(m[1]!)) throw new Error(`README exec line needs a shell to run here: ${line}`);
    lines.push(m[1]!.split(/\s+/));
  }
  return lines;
}

/**
 * Host pids of every process below `pid` (the namespace's own pid numbers mean nothing out here,
 * so the fake servers are found by walking /proc, never by the pids they see themselves).
 */
export function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && found.length < 1000) {
    const current = queue.shift()!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${current}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      let children: number[] = [];
      try {
        children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        // gone
      }
      for (const child of children) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

export const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** The namespace's PID 1 (tini), seen from here: the only child of `unshare --fork`. */
export function namespaceInit(unsharePid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/)[0]) || undefined;
  } catch {
    return undefined;
  }
}

export function run(argv: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, output: `${output}${error.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
