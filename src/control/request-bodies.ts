/**
 * The JSON bodies the control socket accepts, validated with zod before a
 * handler reads them: a malformed request is a 400 naming the field, never a
 * cast that lets a wrong type through. Daemon side only, so the CLI never
 * loads zod to send a request.
 */
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.js';

/** Upper bound of a wait request, so a forgotten client cannot pin a handler forever. */
export const MAX_WAIT_MS = 60 * 60 * 1000;

export const reloadRequestSchema = z.object({
  /** Absent = the file the daemon loaded last (or AUTO_INFER_LLAMA_CPP_CONFIG). */
  file: z.string().refine((file) => path.isAbsolute(file), { error: 'must be an absolute path' }).optional(),
});

export const waitRequestSchema = z.object({
  names: z.array(z.string(), { error: 'must be a list of instance names' }),
  /** Give up after this long and answer with the states at that moment. */
  timeoutMs: z
    .number({ error: 'must be a number of milliseconds' })
    .transform((ms) => Math.min(Math.max(ms, 0), MAX_WAIT_MS))
    .default(MAX_WAIT_MS),
});

export type ReloadRequest = z.input<typeof reloadRequestSchema>;
export type WaitRequest = z.input<typeof waitRequestSchema>;

/** Parse a request body of `route`, or throw the usage error (400) that names the first wrong field. */
export function parseBody<S extends z.ZodType>(route: string, schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length > 0 ? `"${issue.path.map(String).join('.')}"` : 'the body';
  const got = issue.path.reduce<unknown>((value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key], body);
  throw new UsageError(`${route}: ${field} ${issue.message} (got ${JSON.stringify(got) ?? 'nothing'})`);
}
