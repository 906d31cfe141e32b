/** Human-readable renderings of what the daemon answers: the status table, durations, a refused reload's problems. */
import { ConfigInvalidError, formatProblem } from '../config/problem.js';
import { ExitCode } from '../errors.js';
import type { InstanceStatus } from '../supervisor/types.js';

/** A reload the daemon refused carries the config's problems: the daemon read the file, so only it can list them. */
export function writeReloadProblems(error: unknown, out: NodeJS.WritableStream): void {
  if (error instanceof ConfigInvalidError) for (const p of error.problems) out.write(`${formatProblem(p)}\n`);
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

export function formatExit(status: InstanceStatus): string {
  const exit = status.lastExit;
  if (!exit) return '-';
  const how = exit.signal ? exit.signal : `code ${exit.code ?? '?'}`;
  return exit.class ? `${how} (${exit.class})` : how;
}

function stateText(status: InstanceStatus): string {
  const base = status.enabled ? status.state : `${status.state} (disabled)`;
  return status.state === 'failed' && status.failureClass ? `${base}: ${status.failureClass}` : base;
}

/** A fixed-width table; the REASON column is last so long reasons do not break alignment. */
export function formatStatusTable(statuses: InstanceStatus[]): string {
  if (statuses.length === 0) return 'no instances loaded (set AUTO_INFER_LLAMA_CPP_CONFIG and run `infer-entry reload`, or use check-and-run)\n';
  const header = ['NAME', 'STATE', 'PID', 'ADDRESS', 'UPTIME', 'RESTARTS', 'LAST EXIT', 'REASON'];
  const rows = statuses.map((s) => [
    s.name,
    stateText(s),
    s.pid === null ? '-' : String(s.pid),
    `${s.host}:${s.port}`,
    formatDuration(s.uptimeMs),
    String(s.restarts),
    formatExit(s),
    s.reason ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** The settled states of the instances check-and-run started; exit 0 only when every one is ready. */
export function reportSettled(statuses: InstanceStatus[], json: boolean, out: NodeJS.WritableStream): number {
  out.write(json ? `${JSON.stringify({ instances: statuses }, null, 2)}\n` : formatStatusTable(statuses));
  return statuses.every((s) => s.state === 'ready') ? ExitCode.OK : ExitCode.FAILURE;
}
