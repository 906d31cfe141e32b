import { createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';

import * as tar from 'tar';
import yazl from 'yazl';

import type { LlamaServerBuild } from '../setup/build-llama-server.js';

/** One archive per layout the installer accepts, plus one it must refuse. */
export interface E2eArchives {
  /** `.tar.gz`, documented layout: README + bin/ at the root. */
  documentedTarGz: string;
  /** `.tar.gz`, current upstream release layout: one `llama-bNNNN/` folder, everything flat inside. */
  upstreamTarGz: string;
  /** `.zip`, older upstream layout: build/bin/ (symlinks as zip symlink entries). */
  olderZip: string;
  /** `.tar`, a wrapper directory around bin/. */
  wrapperTar: string;
  /** Documented layout without libllama: installs nowhere, llama-server cannot start. */
  missingLibTarGz: string;
}

type Layout = (name: string) => string | undefined;

/** Copies the build's bin/ into `dest`, mapping each file name to its place in the layout. */
async function stage(build: LlamaServerBuild, dest: string, place: Layout): Promise<void> {
  for (const name of await readdir(build.binDir)) {
    const to = place(name);
    if (to === undefined) continue;
    const target = join(dest, to);
    await mkdir(join(target, '..'), { recursive: true });
    const from = join(build.binDir, name);
    if ((await lstat(from)).isSymbolicLink()) await symlink(await readlink(from), target);
    else await copyFile(from, target);
  }
}

async function packTar(dir: string, file: string, gzip: boolean): Promise<void> {
  // portable: no owners/uids in the archive, as a release build made on CI would be.
  await tar.c({ file, cwd: dir, gzip, portable: true }, await readdir(dir));
}

async function packZip(dir: string, file: string): Promise<void> {
  const zip = new yazl.ZipFile();
  const walk = async (d: string): Promise<void> => {
    for (const entry of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(d, entry.name);
      const name = relative(dir, full);
      const st = await lstat(full);
      if (st.isSymbolicLink()) {
        // Zip symlinks: the mode's file type (0o120000) in the external attributes, the target as content.
        zip.addBuffer(Buffer.from(await readlink(full)), name, { mode: 0o120777, compress: false });
      } else if (st.isDirectory()) {
        zip.addEmptyDirectory(name, { mode: 0o40755 });
        await walk(full);
      } else {
        zip.addFile(full, name, { mode: st.mode });
      }
    }
  };
  await walk(dir);
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file));
}

/** Packs the cached build into every accepted archive layout under `outDir`. */
export async function packArchives(build: LlamaServerBuild, outDir: string): Promise<E2eArchives> {
  const layouts = join(outDir, 'layouts');
  await mkdir(layouts, { recursive: true });
  const release = build.release;
  const readme = `llama.cpp ${release} (${build.commit}) built for the infer-entry e2e tests\n`;

  const documented = join(layouts, 'documented');
  await stage(build, documented, (n) => `bin/${n}`);
  await writeFile(join(documented, 'README.md'), readme);

  const upstream = join(layouts, 'upstream');
  await stage(build, upstream, (n) => `llama-${release}/${n}`);
  await writeFile(join(upstream, `llama-${release}`, 'LICENSE'), 'MIT\n');

  const older = join(layouts, 'older');
  await stage(build, older, (n) => `build/bin/${n}`);

  const wrapper = join(layouts, 'wrapper');
  await stage(build, wrapper, (n) => `llama-cpp-${release}/bin/${n}`);
  await writeFile(join(wrapper, `llama-cpp-${release}`, 'README.md'), readme);

  const missingLib = join(layouts, 'missing-lib');
  await stage(build, missingLib, (n) => (n.startsWith('libllama.so') ? undefined : `bin/${n}`));
  await writeFile(join(missingLib, 'README.md'), readme);

  const archives: E2eArchives = {
    documentedTarGz: join(outDir, `llama-cpp-${release}-documented.tar.gz`),
    upstreamTarGz: join(outDir, `llama-${release}-bin-ubuntu-x64.tar.gz`),
    olderZip: join(outDir, `llama-${release}-bin-ubuntu-x64.zip`),
    wrapperTar: join(outDir, `llama-cpp-${release}-wrapped.tar`),
    missingLibTarGz: join(outDir, `llama-cpp-${release}-missing-libllama.tar.gz`),
  };
  await packTar(documented, archives.documentedTarGz, true);
  await packTar(upstream, archives.upstreamTarGz, true);
  await packZip(older, archives.olderZip);
  await packTar(wrapper, archives.wrapperTar, false);
  await packTar(missingLib, archives.missingLibTarGz, true);
  await rm(layouts, { recursive: true, force: true });
  return archives;
}
