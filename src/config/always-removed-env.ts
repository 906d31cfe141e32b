/**
 * Variables scrubbed from every instance's environment. On its own, without the config modules'
 * imports: the supervisor needs it on the daemon's main thread, where zod is not loaded (the
 * config is parsed in the loader's child process).
 */

/** Always scrubbed from a child's environment: it turns llama-server into a router child that exits when stdin closes. */
export const ALWAYS_REMOVED_ENV: readonly string[] = ['LLAMA_SERVER_ROUTER_PORT'];
