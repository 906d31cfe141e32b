/**
 * The file checks of a whole config (check-files.ts per instance), placed in the file: what
 * `validate` prints and what the loader adds to an invalid config's problems.
 */
import { checkInstanceFiles } from './check-files.js';
import { keyPathString, type ConfigProblem } from './problem.js';
import { createTomlLocator } from './toml-locator.js';
import type { InstanceSpec } from './types.js';

export interface FileProblemsInput {
  /** The config file, as the problems name it. */
  file: string;
  /** Its text, to place each problem at the key the user wrote. */
  text: string;
  instances: readonly InstanceSpec[];
  env: NodeJS.ProcessEnv;
}

export async function fileProblems(input: FileProblemsInput): Promise<ConfigProblem[]> {
  const locator = createTomlLocator(input.text);
  const seen = new Set<string>();
  const problems: ConfigProblem[] = [];
  for (const spec of input.instances) {
    for (const p of await checkInstanceFiles(spec, { file: input.file, create: false, env: input.env })) {
      // The executable is shared: say so once, not once per instance.
      const id = `${keyPathString(p.path)}\0${p.message}`;
      if (seen.has(id)) continue;
      seen.add(id);
      // The value may come from the shared table: point at the key the user actually wrote.
      const at = locator.exact(p.path) ?? (p.sharedPath ? locator.exact(p.sharedPath) : undefined) ?? locator.locate(p.path);
      problems.push({ ...p, line: at?.line, column: at?.column });
    }
  }
  return problems;
}
