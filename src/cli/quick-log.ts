/**
 * The few log lines of a command's quick answer (see Command.quick). In a container's usual setting
 * (JSON logs to a pipe or file, level info or lower) they are written as the very JSON lines pino
 * would write, `{"level":30,"time":…,"step":…,…fields,"msg":…}`, without loading pino (~30 ms of a
 * warm boot), and at a level above info there is nothing to write; anything else (a terminal, pretty
 * output, a setting with a typo to warn about, a caller's own logger) goes through the real logger.
 */
import type { Logger } from '../log.js';
import type { QuickLogLine } from './command.js';

const INFO_OR_LOWER = new Set(['', 'trace', 'debug', 'info']);
const ABOVE_INFO = new Set(['warn', 'error', 'fatal', 'silent']);
const FORMATS = new Set(['', 'json', 'pretty']);

export async function writeQuickLog(
  lines: readonly QuickLogLine[],
  // useLogger: the caller passed its own logger (tests), which sees every line
  o: { env: NodeJS.ProcessEnv; destination: 1 | 2; step?: string; logger: () => Promise<Logger>; useLogger?: boolean },
): Promise<void> {
  const out = o.destination === 1 ? process.stdout : process.stderr;
  const level = (o.env.INFER_ENTRY_LOG_LEVEL ?? '').trim().toLowerCase();
  const format = (o.env.INFER_ENTRY_LOG_FORMAT ?? '').trim().toLowerCase();
  const settled = o.useLogger !== true && FORMATS.has(format);
  // the lines are info: a higher level shows none of them
  if (settled && ABOVE_INFO.has(level)) return;
  if (settled && INFO_OR_LOWER.has(level) && (format === 'json' || (format === '' && !out.isTTY))) {
    const time = new Date().toISOString();
    let text = '';
    for (const line of lines) text += `${JSON.stringify({ level: 30, time, step: o.step, ...line.fields, msg: line.msg })}\n`;
    out.write(text);
    return;
  }
  const log = await o.logger();
  for (const line of lines) log.info(line.fields, line.msg);
}
