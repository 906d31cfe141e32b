/**
 * Ends a run by naming the tiers it did not run and how to run them, so a green `npm test` never
 * hides that the root, Debian-tool and real-llama-server tests were left out.
 */
import type { Reporter, Vitest } from 'vitest/node';
import { ALL_TIERS_COMMAND, TIERS } from './tiers.js';

export default class TiersReporter implements Reporter {
  private ran = new Set<string>();
  private log: (text: string) => void = (text) => process.stdout.write(`${text}\n`);

  onInit(vitest: Vitest): void {
    this.ran = new Set(vitest.projects.map((p) => p.name));
    this.log = (text) => vitest.logger.log(text);
  }

  // onFinished, not onTestRunEnd: the default reporter prints failures and the summary in between.
  onFinished(): void {
    const left = TIERS.filter((t) => !this.ran.has(t.name));
    if (left.length === 0) return;
    this.log('');
    this.log(`Tiers not run here: ${left.map((t) => t.name).join(', ')}.`);
    for (const t of left) this.log(`  ${t.name.padEnd(7)}${t.command.padEnd(22)}needs ${t.needs}`);
    this.log(`Run them all (as root on Debian: installs their tools first): ${ALL_TIERS_COMMAND}`);
  }
}
