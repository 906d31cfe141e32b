/** Step 1: the archive the user pointed at exists, is a readable non-empty regular file, and is a format we read. */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { MissingInputError, PackageError, errnoCode } from '../errors.js';
import { ENV } from '../env.js';
import { SUPPORTED_EXTENSIONS, detectFormat, formatFromExtension } from './format.js';
import type { ArchiveFormat } from './types.js';

export interface SourceInfo {
  path: string;
  name: string;
  size: number;
  format: ArchiveFormat;
}

export async function inspectSource(pkgPath: string, log: Logger): Promise<SourceInfo> {
  const file = path.resolve(pkgPath);
  const hint = `check ${ENV.PKG_PATH} or --pkg, and that the archive is mounted into the container`;
  let st;
  try {
    st = await stat(file);
  } catch (error) {
    const code = errnoCode(error);
    throw new MissingInputError('E_PKG_MISSING', `package ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`, { hint, cause: error });
  }
  if (!st.isFile()) {
    throw new MissingInputError('E_PKG_NOT_FILE', `package ${file} is not a regular file`, { hint: `point it at a ${SUPPORTED_EXTENSIONS.join(', ')} archive` });
  }
  try {
    await access(file, constants.R_OK);
  } catch (error) {
    throw new MissingInputError('E_PKG_UNREADABLE', `package ${file} is not readable by uid ${process.getuid?.() ?? '?'}`, { hint: 'fix its permissions (chmod a+r)', cause: error });
  }
  if (st.size === 0) {
    throw new PackageError('E_PKG_EMPTY', `package ${file} is empty (0 bytes)`, { hint: 'the copy or download was probably interrupted; provide the archive again' });
  }
  const format = await detectFormat(file);
  const byName = formatFromExtension(file);
  if (byName !== format) {
    log.warn(
      { pkg: file, detected: format, byExtension: byName },
      `package ${path.basename(file)} contains ${format} data but its name says ${byName ?? 'nothing known'}; installing it as ${format}`,
    );
  }
  return { path: file, name: path.basename(file), size: st.size, format };
}
