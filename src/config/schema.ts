/**
 * The zod schema of the instance config file: the single source of truth for
 * validation, for `infer-entry schema` (JSON Schema for Taplo / editors) and
 * for the key lists behind "did you mean" suggestions.
 *
 * The schema only validates; it has no defaults or transforms, because the
 * merge of `[instance.control]` / `[instance.server]` into each instance must
 * know which keys the user actually wrote. Defaults live in defaults.ts and are
 * shown here as JSON Schema `default` annotations.
 */
import { z } from 'zod';
import { DURATION_PATTERN, MAX_TIMER_MS, parseDuration } from './duration.js';
import { DEFAULT_DAEMON_LOG, DEFAULT_ENABLED, DEFAULT_GPU_IDS, DEFAULT_HOST, DEFAULT_LOG_DIR, DEFAULT_PORT, DEFAULT_SUPERVISION_TEXT as D } from './defaults.js';
import { routerSchema, routingControlShape } from './routing.js';

const durationHelp = 'a duration like "30s", "10m", "1h", "500ms", or an integer number of seconds';

const MAX_DURATION_TEXT = '596h, 2147483 s (2^31-1 ms, the longest timer Node.js can hold)';

function duration(description: string, defaultValue: string) {
  return z
    .union([z.int().nonnegative(), z.string().regex(DURATION_PATTERN, { error: `expected ${durationHelp}` })], {
      error: `expected ${durationHelp}`,
    })
    .refine((value) => (parseDuration(value) ?? 0) <= MAX_TIMER_MS, { error: `expected at most ${MAX_DURATION_TEXT}` })
    .optional()
    .meta({ description: `${description} (${durationHelp}; at most ${MAX_DURATION_TEXT}).`, default: defaultValue });
}

/** Counts of probes and restarts: beyond this a setting is a typo, and the counters stay small integers. */
const MAX_COUNT = 10_000;

const GPU_TOKEN = String.raw`(?:\d+|GPU-[0-9A-Fa-f-]+|MIG-[0-9A-Za-z/-]+)`;
export const GPU_IDS_PATTERN = new RegExp(String.raw`^(?:all|none|${GPU_TOKEN}(?:\s*,\s*${GPU_TOKEN})*)$`);

export const masterSchema = z
  .strictObject({
    enable: z
      .boolean()
      .optional()
      .meta({ description: 'false: launch nothing (the file is still validated).', default: DEFAULT_ENABLED }),
    llama_cpp_path: z
      .string()
      .min(1)
      .optional()
      .meta({
        description:
          'The llama-server executable. Default: $INFER_ENTRY_ROOT/llama-cpp/bin/llama-server when it exists, else llama-server on PATH.',
        examples: ['/soft/app/llama-cpp/bin/llama-server'],
      }),
  })
  .meta({ description: 'Switches for the whole file.' });

export const controlSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .optional()
      .meta({ description: 'false: the instance is known (status, start NAME) but not started at boot.', default: DEFAULT_ENABLED }),
    gpu_ids: z
      .union([z.string().regex(GPU_IDS_PATTERN, { error: 'expected "all", "none" or a comma-separated list of GPU indexes/UUIDs like "0,1"' }), z.int().nonnegative()], {
        error: 'expected "all", "none" or a comma-separated list of GPU indexes like "0,1"',
      })
      .optional()
      .meta({
        description:
          'GPUs the instance sees through CUDA_VISIBLE_DEVICES: "all" leaves the variable as the container has it, "none" sets it to "" (no CUDA device: llama-server runs on CPU), "0,1" sets it to "0,1".',
        default: DEFAULT_GPU_IDS,
        examples: ['all', 'none', '0', '0,1'],
      }),
    log_dir: z
      .string()
      .optional()
      .meta({ description: 'Directory of the instance log file <log_dir>/llama-server-<name>.log.', default: DEFAULT_LOG_DIR }),
    log_file: z
      .string()
      .optional()
      .meta({ description: 'The instance log file (output is appended); wins over log_dir. "" disables the file.', examples: ['/var/log/llama/llama3.log'] }),
    daemon_log: z
      .boolean()
      .optional()
      .meta({
        description:
          "false: the instance's output goes to its log file (and `infer-entry logs`) but not into the daemon's log (stdout, `docker logs`); the supervisor's own events about it stay there. Needs a log file.",
        default: DEFAULT_DAEMON_LOG,
      }),
    background: z
      .boolean()
      .optional()
      .meta({ description: 'Accepted for compatibility with the old launcher; instances always run side by side under supervision.', default: true }),
    restart: z
      .enum(['always', 'on-failure', 'never'])
      .optional()
      .meta({ description: 'When an exited instance is started again. on-failure: not after a clean exit (status 0, or SIGTERM).', default: D.restart }),
    restart_backoff_initial: duration('First restart delay', D.restart_backoff_initial),
    restart_backoff_max: duration('Longest restart delay', D.restart_backoff_max),
    restart_backoff_multiplier: z
      .number()
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'Each restart delay is the previous one times this.', default: D.restart_backoff_multiplier }),
    restart_backoff_jitter: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .meta({ description: 'Random ± fraction applied to each restart delay.', default: D.restart_backoff_jitter }),
    restart_backoff_reset_after: duration('Continuous readiness after which the restart delay starts over', D.restart_backoff_reset_after),
    crash_loop_max_unready_starts: z
      .int()
      .min(1)
      .max(MAX_COUNT)
      .optional()
      .meta({ description: 'Consecutive starts that never became ready before the instance is marked failed.', default: D.crash_loop_max_unready_starts }),
    crash_loop_max_restarts: z
      .int()
      .min(1)
      .max(MAX_COUNT)
      .optional()
      .meta({ description: 'Restarts within crash_loop_window before the instance is marked failed.', default: D.crash_loop_max_restarts }),
    crash_loop_window: duration('Window for crash_loop_max_restarts', D.crash_loop_window),
    health_path: z
      .string()
      .startsWith('/', { error: 'expected an HTTP path starting with "/"' })
      .optional()
      .meta({ description: 'HTTP path probed for readiness and liveness (llama-server answers 503 while loading, 200 when ready).', default: D.health_path }),
    health_startup_interval: duration('Readiness probe period while starting (the first second is probed faster)', D.health_startup_interval),
    health_startup_timeout: duration(
      'Give up starting after this long without readiness and without new log output (loading a 100 GB model takes minutes)',
      D.health_startup_timeout,
    ),
    health_interval: duration('Liveness probe period once ready', D.health_interval),
    health_timeout: duration('Timeout of one probe', D.health_timeout),
    health_failure_threshold: z
      .int()
      .min(1)
      .max(MAX_COUNT)
      .optional()
      .meta({ description: 'Consecutive failed liveness probes before the instance is restarted.', default: D.health_failure_threshold }),
    stop_grace_period: duration('Time between SIGTERM and SIGKILL when stopping', D.stop_grace_period),
    ...routingControlShape,
  })
  .meta({ description: 'Launcher and supervision settings. [instance.control] sets defaults; [instance.NAME.control] overrides them per key.' });

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const listItem = z.union([z.string(), z.number()], { error: 'expected a string or a number' });
/** Any llama-server flag: snake_case key → --kebab-case; true → valueless flag; false → omitted; list → repeated. */
const serverValue = z
  .union([scalar, z.array(z.union([z.string(), z.number()]))], {
    error: 'expected a string, number, boolean or list of strings/numbers (a llama-server flag value)',
  })
  .meta({ description: 'A llama-server flag: key a_b → --a-b; a string/number is its value; true adds the flag alone; false omits it; a list repeats it.' });

const str = (description: string, extra: Record<string, unknown> = {}) => z.string().optional().meta({ description, ...extra });
const flag = (description: string) => z.boolean().optional().meta({ description });

export const serverSchema = z
  .object({
    model: z.string().min(1).optional().meta({ description: '--model: path of a .gguf file, or the first shard (*-00001-of-0000N.gguf) of a split model.', examples: ['/models/llama-3-8b.gguf'] }),
    hf_repo: str('--hf-repo: download the model from Hugging Face (<user>/<model>[:quant]).'),
    hf_file: str('--hf-file: the file in hf_repo.'),
    hf_token: str('Hugging Face token; passed to llama-server as the HF_TOKEN environment variable, never on the command line, redacted from output.'),
    model_url: str('--model-url: download the model from this URL.'),
    docker_repo: str('--docker-repo: model from Docker Hub.'),
    host: str(`--host: address to listen on. infer-entry always passes it (default ${DEFAULT_HOST}) and probes it (0.0.0.0 → 127.0.0.1).`, { default: DEFAULT_HOST, examples: ['0.0.0.0'] }),
    port: z.int().min(1).max(65535).optional().meta({ description: '--port: port to listen on; unique per host across instances. infer-entry always passes it.', default: DEFAULT_PORT }),
    api_key: str('API key; passed to llama-server as LLAMA_API_KEY, never on the command line, redacted from every log and status output.'),
    alias: str('--alias: model name shown by the API.'),
    ctx_size: z.int().min(0).optional().meta({ description: '--ctx-size: context size in tokens (0 = from the model).' }),
    n_gpu_layers: z
      .union([z.int().min(-1), z.enum(['auto', 'all'])], { error: 'expected an integer ≥ -1, "auto" or "all"' })
      .optional()
      .meta({ description: '--n-gpu-layers: layers to offload to the GPU (-1 / "all": all).' }),
    flash_attn: z
      .union([z.enum(['on', 'off', 'auto']), z.boolean()], { error: 'expected "on", "off" or "auto"' })
      .optional()
      .meta({ description: '--flash-attn on|off|auto (true/false are passed as on/off).' }),
    threads: z.int().min(-1).optional().meta({ description: '--threads: CPU threads for generation (-1: auto).' }),
    threads_batch: z.int().min(-1).optional().meta({ description: '--threads-batch: CPU threads for batch processing.' }),
    parallel: z.int().min(-1).optional().meta({ description: '--parallel: number of server slots (-1: auto).' }),
    batch_size: z.int().min(1).optional().meta({ description: '--batch-size: logical maximum batch size.' }),
    ubatch_size: z.int().min(1).optional().meta({ description: '--ubatch-size: physical maximum batch size.' }),
    n_predict: z.int().min(-2).optional().meta({ description: '--n-predict: tokens to predict (-1: infinity, -2: until the context is full).' }),
    main_gpu: z.int().min(0).optional().meta({ description: '--main-gpu: the GPU for the model with split_mode none.' }),
    split_mode: z.enum(['none', 'layer', 'row']).optional().meta({ description: '--split-mode across GPUs.' }),
    tensor_split: str('--tensor-split: fractions per GPU, e.g. "3,1".'),
    cache_type_k: z.enum(['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'iq4_nl', 'q5_0', 'q5_1']).optional().meta({ description: '--cache-type-k: KV cache type for K.' }),
    cache_type_v: z.enum(['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'iq4_nl', 'q5_0', 'q5_1']).optional().meta({ description: '--cache-type-v: KV cache type for V.' }),
    lora: z.union([z.string(), z.array(z.string())]).optional().meta({ description: '--lora: adapter path(s); a list repeats the flag.' }),
    mmproj: str('--mmproj: multimodal projector file.'),
    chat_template: str('--chat-template: built-in template name or template text.'),
    chat_template_file: str('--chat-template-file: Jinja chat template file.'),
    temp: z.number().min(0).optional().meta({ description: '--temp: default sampling temperature.' }),
    top_k: z.int().min(0).optional().meta({ description: '--top-k.' }),
    top_p: z.number().min(0).max(1).optional().meta({ description: '--top-p.' }),
    min_p: z.number().min(0).max(1).optional().meta({ description: '--min-p.' }),
    seed: z.int().optional().meta({ description: '--seed (-1: random).' }),
    timeout: z.int().min(0).optional().meta({ description: '--timeout: server read/write timeout in seconds.' }),
    metrics: flag('--metrics: Prometheus-compatible /metrics endpoint.'),
    jinja: flag('--jinja: use the Jinja chat template engine.'),
    embeddings: flag('--embeddings: embedding-only endpoints.'),
    cont_batching: flag('--cont-batching: continuous batching.'),
    mlock: flag('--mlock: keep the model in RAM.'),
    no_mmap: flag('--no-mmap: do not memory-map the model.'),
    no_webui: flag('--no-webui: disable the web UI.'),
    extra_args: z
      .array(listItem)
      .optional()
      .meta({ description: 'Raw arguments passed verbatim, before the generated flags.', examples: [['--jinja']] }),
  })
  .catchall(serverValue)
  .meta({
    description:
      'llama-server flags. [instance.server] is shared; [instance.NAME.server] is merged over it (scalars replace, lists are concatenated). Unknown keys are passed on with the same rule.',
  });

/** Names a shell can export: what a child's environment can carry. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const instanceEnvSchema = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .meta({
    description:
      "Variables set in this instance's environment, over the container's (numbers and booleans as text), e.g. LLAMA_ARG_PORT = 9000. LLAMA_ARG_HOST/LLAMA_ARG_PORT here replace the defaults infer-entry passes for --host/--port; the server table wins over them.",
    examples: [{ LLAMA_ARG_PORT: 9000, GGML_CUDA_ENABLE_UNIFIED_MEMORY: '1' }],
  });

export const instanceSchema = z
  .strictObject({
    control: controlSchema.optional(),
    server: serverSchema.optional(),
    env: instanceEnvSchema.optional(),
  })
  .meta({ description: 'One llama-server instance; the table name is the instance name.' });

export const instancesSchema = z
  .object({
    control: controlSchema.optional(),
    server: serverSchema.optional(),
  })
  .catchall(instanceSchema)
  .meta({ description: 'control and server hold defaults for every instance; every other key is an instance name.' });

export const configSchema = z
  .strictObject({
    master: masterSchema.optional(),
    instance: instancesSchema.optional(),
    router: routerSchema.optional(),
  })
  .meta({
    title: 'infer-entry llama.cpp instance config',
    description: 'The TOML file named by AUTO_INFER_LLAMA_CPP_CONFIG: the llama-server instances infer-entry runs. See docs/config.md.',
  });

export type ConfigInput = z.infer<typeof configSchema>;
export type MasterInput = z.infer<typeof masterSchema>;
export type ControlInput = z.infer<typeof controlSchema>;
export type ServerInput = z.infer<typeof serverSchema>;

/** Known keys per table, for "did you mean" suggestions. */
export const KNOWN_KEYS = {
  root: Object.keys(configSchema.shape),
  master: Object.keys(masterSchema.shape),
  control: Object.keys(controlSchema.shape),
  server: Object.keys(serverSchema.shape),
  instance: Object.keys(instanceSchema.shape),
  router: Object.keys(routerSchema.shape),
} as const;

/** The JSON Schema `infer-entry schema` prints (draft-07: what Taplo understands best). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { target: 'draft-7' }) as Record<string, unknown>;
}
