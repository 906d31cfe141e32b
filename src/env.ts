/**
 * The environment contract. Names and semantics are kept from the infer-dev
 * image's shell scripts because existing users set them.
 */
import type { Logger } from 'pino';

export const ENV = {
  GET_PKG_ON_BOOT: 'AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT',
  PKG_PATH: 'AUTO_INFER_LLAMA_CPP_PKG_PATH',
  PKG_MAX_BYTES: 'AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES',
  PKG_VERIFY: 'AUTO_INFER_LLAMA_CPP_PKG_VERIFY',
  ON_BOOT: 'AUTO_INFER_LLAMA_CPP_ON_BOOT',
  CONFIG: 'AUTO_INFER_LLAMA_CPP_CONFIG',
  OVERRIDES: 'AUTO_INFER_LLAMA_CPP_OVERRIDES',
  STATUS_ADDR: 'AUTO_INFER_STATUS_ADDR',
  ROOT: 'INFER_ENTRY_ROOT',
  SOCKET: 'INFER_ENTRY_SOCKET',
  SHIMS_DIR: 'INFER_ENTRY_SHIMS_DIR',
  LOG_LEVEL: 'INFER_ENTRY_LOG_LEVEL',
  LOG_FORMAT: 'INFER_ENTRY_LOG_FORMAT',
  /** Comma-separated keys the router port requires (Authorization: Bearer KEY). */
  ROUTER_API_KEYS: 'INFER_ENTRY_ROUTER_API_KEYS',
} as const;

export type FlagValue = { enabled: boolean; reason: string; warning?: string };

/**
 * `1|true` (any case) → on; unset, empty, `0|false` → off; anything else → off
 * with a warning naming the value, so a typo like `ture` is visible.
 */
export function readFlag(name: string, env: NodeJS.ProcessEnv = process.env): FlagValue {
  const raw = env[name];
  if (raw === undefined) return { enabled: false, reason: `${name} is not set` };
  const value = raw.trim().toLowerCase();
  if (value === '1' || value === 'true') return { enabled: true, reason: `${name}=${raw}` };
  if (value === '' || value === '0' || value === 'false') return { enabled: false, reason: `${name}=${JSON.stringify(raw)}` };
  return {
    enabled: false,
    reason: `${name}=${JSON.stringify(raw)} is not a recognised value`,
    warning: `${name}=${JSON.stringify(raw)} is not one of 1, true, 0, false (case-insensitive); treating it as false`,
  };
}

/** readFlag, logging the warning when there is one. */
export function readFlagLogged(name: string, log: Logger, env: NodeJS.ProcessEnv = process.env): FlagValue {
  const flag = readFlag(name, env);
  if (flag.warning) log.warn({ variable: name, value: env[name] }, flag.warning);
  return flag;
}
