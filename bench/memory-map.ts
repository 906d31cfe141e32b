/**
 * What a process's RSS is made of, from /proc/PID/smaps: the node binary's pages, other files
 * (shared libraries), the main malloc arena ([heap]), the other threads' malloc arenas (glibc
 * maps each in a 64 MiB-aligned region), and the rest of the anonymous memory (V8's heap, thread
 * stacks, large malloc blocks). Linux only; used by the soak bench to say where the RSS went.
 *
 *   node dist/bench/memory-map.js PID
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ARENA_ALIGN = 64n * 1024n * 1024n;

export interface MemoryMap {
  nodeBinaryKb: number;
  otherFilesKb: number;
  mainArenaKb: number;
  threadArenasKb: number;
  threadArenas: number;
  otherAnonKb: number;
  totalKb: number;
}

export function memoryMap(pid: number): MemoryMap {
  const map: MemoryMap = { nodeBinaryKb: 0, otherFilesKb: 0, mainArenaKb: 0, threadArenasKb: 0, threadArenas: 0, otherAnonKb: 0, totalKb: 0 };
  let start = 0n;
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      start = BigInt(`0x${head[1]}`);
      name = head[2]!;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const kb = Number(rss[1]);
    map.totalKb += kb;
    if (name.startsWith('/')) {
      if (/\/node$/.test(name)) map.nodeBinaryKb += kb;
      else map.otherFilesKb += kb;
    } else if (name === '[heap]') map.mainArenaKb += kb;
    else if (name === '' && start % ARENA_ALIGN === 0n && kb > 0) {
      // A glibc arena's heap starts on a 64 MiB boundary (its first mapping); V8's pages do not
      // need to, but an unlucky one can: the count makes a stray one visible.
      map.threadArenasKb += kb;
      map.threadArenas++;
    } else map.otherAnonKb += kb;
  }
  return map;
}

export function formatMemoryMap(m: MemoryMap): string {
  const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
  return [
    `RSS ${mb(m.totalKb)}: node binary ${mb(m.nodeBinaryKb)}, other files ${mb(m.otherFilesKb)}, main malloc arena ${mb(m.mainArenaKb)},`,
    `${m.threadArenas} thread malloc arenas ${mb(m.threadArenasKb)}, other anonymous (V8 heap, stacks, large blocks) ${mb(m.otherAnonKb)}`,
  ].join(' ');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(formatMemoryMap(memoryMap(Number(process.argv[2]))));
