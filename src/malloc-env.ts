/**
 * The daemon's shebang starts node with MALLOC_ARENA_MAX=2: glibc gives every thread that mallocs
 * (libuv's pool, V8's platform workers) an arena of its own, up to
 * 8 per core, and memory freed there stays resident; two arenas keep 2-5 MB less in the daemon and
 * the router (bench/README.md, sections soak and router). glibc reads the variable once, before
 * any JavaScript runs, so it is dropped from process.env at start: llama-server and the CMD are
 * other programs (llama-server's threads want their arenas) and get glibc's default. An instance
 * that wants a value sets it in its [instance.NAME.env] table.
 */
const DAEMON_MALLOC_ARENA_MAX = '2';

/**
 * Remove the shebang's MALLOC_ARENA_MAX from env. A container that sets the same value itself loses
 * it for its children too: `env -S` has already replaced a container's own value by then, so the
 * two cannot be told apart (a variable to carry it would make the shebang longer than the 127
 * bytes older kernels read).
 */
export function dropDaemonMallocSetting(env: NodeJS.ProcessEnv): void {
  if (env.MALLOC_ARENA_MAX === DAEMON_MALLOC_ARENA_MAX) delete env.MALLOC_ARENA_MAX;
}
