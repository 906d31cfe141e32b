/**
 * The few log lines of a command's quick answer (see Command.quick). In a container's usual setting
 * (JSON logs to a pipe or file, level info or lower) they are written as the very JSON lines pino
 * would write, `{"level":30,"time":…,"step":…,…fields,"msg":…}`, without loading pino (~30 ms of a
 * warm boot); anything else (a terminal, pretty output, another level, a setting with a typo to
 * warn about) goes through the real logger.
 */
import type { Logger } from '../log.js';
import type { QuickLogLine } from './command.js';

const INFO_OR_LOWER = new Set(['', 'trace', 'debug', 'info']);

export async function writeQuickLog(
  lines: readonly QuickLogLine[],
  o: { env: NodeJS.ProcessEnv; destination: 1 | 2; step?: string; logger: () => Promise<Logger>; plain?: boolean },
): Promise<void> {
  const out = o.destination === 1 ? process.stdout : process.stderr;
  const level = (o.env.INFER_ENTRY_LOG_LEVEL ?? '').trim().toLowerCase();
  const format = (o.env.INFER_ENTRY_LOG_FORMAT ?? '').trim().toLowerCase();
  const plain = o.plain ?? (INFO_OR_LOWER.has(level) && (format === 'json' || (format === '' && !out.isTTY)));
  if (!plain) {
    const log = await o.logger();
    for (const line of lines) log.info(line.fields, line.msg);
    return;
  }
  const time = new Date().toISOString();
  let text = '';
  for (const line of lines) text += `${JSON.stringify({ level: 30, time, step: o.step, ...line.fields, msg: line.msg })}\n`;
  out.write(text);
}
