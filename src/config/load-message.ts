/**
 * What crosses from the config loader process to the daemon: plain data only. A thrown
 * error would arrive as a bare Error (structured clone keeps name, message and
 * stack, not `code`, `exitCode`, `hint` or the typed problems), so errors are
 * taken apart here and rebuilt on the other side with their class's fields.
 */
import { ExitCode, InferEntryError } from '../errors.js';
import { ConfigInvalidError, type ConfigProblem } from './problem.js';
import type { LoadedConfig } from './types.js';

export type SentError =
  | { type: 'config-invalid'; file: string; message: string; hint: string | undefined; problems: ConfigProblem[] }
  | { type: 'infer-entry'; name: string; code: string; exitCode: ExitCode; message: string; hint: string | undefined; details: Record<string, unknown> | undefined }
  | { type: 'other'; name: string; message: string; stack: string | undefined };

export type LoadMessage = { ok: true; config: LoadedConfig } | { ok: false; error: SentError };

export function sendableError(error: unknown): SentError {
  if (error instanceof ConfigInvalidError) {
    return { type: 'config-invalid', file: error.file, message: error.message, hint: error.hint, problems: error.problems };
  }
  if (error instanceof InferEntryError) {
    return { type: 'infer-entry', name: error.name, code: error.code, exitCode: error.exitCode, message: error.message, hint: error.hint, details: error.details };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  return { type: 'other', name: e.name, message: e.message, stack: e.stack };
}

export function rebuiltError(sent: SentError): Error {
  switch (sent.type) {
    case 'config-invalid':
      return new ConfigInvalidError(sent.file, sent.message, sent.problems, sent.hint === undefined ? {} : { hint: sent.hint });
    case 'infer-entry': {
      const options = { ...(sent.hint === undefined ? {} : { hint: sent.hint }), ...(sent.details === undefined ? {} : { details: sent.details }) };
      const error = new InferEntryError(sent.code, sent.exitCode, sent.message, options);
      error.name = sent.name;
      return error;
    }
    case 'other': {
      const error = new Error(sent.message);
      error.name = sent.name;
      if (sent.stack !== undefined) error.stack = sent.stack;
      return error;
    }
  }
}
