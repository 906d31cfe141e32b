/** Counting the live members of a process group (Linux /proc). */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Members of a process group that are still running, from /proc. Zombies do not count: as PID 1
 * without tini nobody reaps re-parented grandchildren, yet they hold neither the port nor GPU memory.
 * null when /proc cannot be read (then the kill(-pgid, 0) answer stands).
 */
export function runningGroupMembers(pgid: number): number | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  let count = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after "(comm)": state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') count += 1;
  }
  return count;
}
