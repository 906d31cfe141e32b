/**
 * installPackage: the whole install — validate, idempotency by identity (an
 * unchanged package is not read), cache + hash (tar and tar.gz extracted into
 * staging from the same read), idempotency by sha256, extract to staging (zip,
 * or from the cache), normalise, smoke-test, marker + links, atomic activation,
 * prune. Everything before activation happens in a staging directory, so a
 * failure or a SIGKILL leaves the active install untouched; the next run
 * removes what a killed run left. Activation needs the whole package hashed
 * and the smoke test passed.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { CannotCreateError, PackageError, isInferEntryError } from '../errors.js';
import { ensureStep } from '../log.js';
import { VERSION } from '../version.js';
import { readActive } from './active.js';
import { activate, pruneReleases, removeLeftovers } from './activate.js';
import { cacheArchive, removeCached, type CopySink } from './cache.js';
import { writeConvenienceLinks } from './convenience-links.js';
import { statfsFreeBytes, writeFailure } from './disk.js';
import { extractArchive, type ExtractResult } from './extract.js';
import { tarGunzip } from './tar-gunzip.js';
import { normaliseLayout } from './layout.js';
import { ensureShims } from './own-shims.js';
import { DEFAULT_RESERVE_BYTES, formatBytes, parseMaxBytes } from './limits.js';
import { acquireInstallLock } from './lock.js';
import { buildManifest, firstDifference } from './manifest.js';
import { fsyncPaths, makeDurable } from './durable.js';
import { readInstalledMarker, writeMarker } from './marker.js';
import { ttyProgress } from './progress.js';
import { inspectSource } from './source.js';
import { trustedDigest } from './sidecar.js';
import { alreadyInstalledMessage, checkingMessage, sourceMessage } from './unchanged.js';
import { MARKER_FILE, type InstallOptions, type InstallOutcome, type InstalledMarker } from './types.js';

export async function installPackage(o: InstallOptions): Promise<InstallOutcome> {
  const started = Date.now();
  const log = ensureStep(o.log, 'install');
  const env = o.env ?? process.env;
  const { paths } = o;
  const freeBytes = o.freeBytes ?? statfsFreeBytes;
  const tty = o.onProgress ? undefined : ttyProgress();
  const progress = o.onProgress ?? tty;
  const reserve = o.reserveBytes ?? DEFAULT_RESERVE_BYTES;
  const maxBytes = parseMaxBytes(env);

  log.info({ phase: 'validate', pkg: o.pkgPath }, checkingMessage(o.pkgPath));
  const source = await inspectSource(o.pkgPath, log);
  log.info({ phase: 'validate', pkg: source.path, format: source.format, bytes: source.size }, sourceMessage(source.format, source.size));

  for (const dir of [paths.root, paths.releases]) {
    try {
      await mkdir(dir, { recursive: true });
    } catch (error) {
      throw new CannotCreateError('E_ROOT_DIR', `cannot create ${dir}: ${(error as Error).message}`, { hint: 'check INFER_ENTRY_ROOT and its permissions', cause: error });
    }
  }
  const lock = await acquireInstallLock(paths.installLock, log, { waitMs: o.lockWaitMs, signal: o.signal });
  let staging: string | null = null;
  let cacheFile: string | null = null;
  // started before the smoke test; a failed install still waits for it, so no `sync` outlives the call
  let durable: Promise<void> | undefined;
  try {
    await removeLeftovers(paths, log);
    const current = await readInstalledMarker(paths);
    let damaged = false;
    const alreadyInstalled = async (sha256: string, how: 'identity' | 'sha256'): Promise<InstallOutcome | null> => {
      if (!current || current.sha256 !== sha256 || damaged) return null;
      const difference = Array.isArray(current.manifest) ? firstDifference(paths.install, current.manifest) : 'the install has no manifest (made by an older installer)';
      if (difference !== null) {
        damaged = true;
        log.warn({ phase: 'idempotency', difference }, `installed tree is damaged (${difference}); reinstalling from the cache`);
        return null;
      }
      await pruneReleases(paths, log);
      const active = await readActive(paths);
      const releaseDir = active?.kind === 'release' ? path.join(paths.releases, active.name) : paths.install;
      log.info({ phase: 'idempotency', sha256, release: releaseDir, check: how }, alreadyInstalledMessage(source.name, sha256, how));
      return outcome('already-installed', sha256, how, releaseDir, current.entries, current.bytes);
    };
    const outcome = (status: InstallOutcome['status'], sha256: string, how: InstallOutcome['archiveCheck'], releaseDir: string, entries: number, bytes: number): InstallOutcome => ({
      status,
      sha256,
      archiveName: source.name,
      format: source.format,
      releaseDir,
      durationMs: Date.now() - started,
      entries,
      bytes,
      archiveCheck: how,
    });

    // Warm boot: a package with the identity it had when hashed is not read at all (see identity.ts).
    if (current && !o.force) {
      if (o.verify) log.info({ phase: 'cache' }, 'verify: hashing the whole package even if it looks unchanged');
      else {
        const trusted = await trustedDigest(source, paths.cache);
        if (trusted.sha256 !== null) {
          const done = await alreadyInstalled(trusted.sha256, 'identity');
          if (done) return done;
        } else log.info({ phase: 'cache', reason: trusted.reason }, `reading ${source.name}: ${trusted.reason}`);
      }
    }

    // loaded only by a run that installs something, not by every warm boot nor by one that only
    // hashes; a copying run starts it with the copy, so that compiling it does not delay the smoke test
    let smokeModule: Promise<typeof import('./smoke-test.js')> | undefined;
    const loadSmokeTest = (): Promise<typeof import('./smoke-test.js')> => (smokeModule ??= import('./smoke-test.js'));

    // tar and tar.gz are extracted from the very bytes the copy reads and hashes: one read of the package
    const newStaging = async (): Promise<string> => {
      loadSmokeTest().catch(() => undefined);
      staging = path.join(paths.releases, `.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
      // one level at a time: a recursive mkdir on a full disk reports ENOENT instead of ENOSPC
      await mkdir(staging);
      await mkdir(path.join(staging, 'x'));
      return path.join(staging, 'x');
    };
    const extractOptions = (into: string) => ({ size: source.size, format: source.format, into, spaceDir: paths.releases, maxBytes, reserve, freeBytes, log, signal: o.signal });
    let streamed: Promise<ExtractResult> | undefined;
    const tarSink = async (): Promise<CopySink> => {
      // tar.gz: the copy writes into the gunzip, whose write callback says the chunk was inflated;
      // plain tar: into a buffer, which holds a copy (the parser may keep a view of a chunk)
      const gunzip = source.format === 'tar.gz' ? tarGunzip() : null;
      const pass = gunzip ?? new PassThrough({ highWaterMark: 16 * 1024 * 1024 });
      // one phase on the terminal, at the pace of the extraction (the copy reads ahead of it)
      const onProgress = progress && ((d: number, t: number) => progress('hash+copy+extract', d, t));
      const extraction = extractArchive({ ...extractOptions(await newStaging()), file: source.path, onProgress, stream: { stream: pass, label: source.path } });
      streamed = extraction;
      // Settles with the extraction, either way: a write waits no longer than that (zlib never calls
      // a failed write's callback, and a gunzip the extraction finished with takes no more).
      let finished = false;
      const settled = extraction.then(() => {
        finished = true;
      });
      settled.catch(() => undefined);
      return {
        write: async (chunk) => {
          // The archive ended before these bytes (padding after the gzip stream, say): they are
          // hashed and cached, as when the extraction reads the cache file, not extracted.
          if (finished) return;
          const taken = gunzip
            ? new Promise<void>((resolve, reject) => gunzip.write(chunk, (error) => (error ? reject(error) : resolve())))
            : pass.write(Buffer.from(chunk))
              ? Promise.resolve()
              : once(pass, 'drain').then(() => undefined);
          // left pending when the extraction settles first; abort() then closes the stream
          taken.catch(() => undefined);
          // A failure (the gunzip's own on corrupt data, or the stream closed under a write) is the
          // extraction's to report: a failed extraction says why, as the package's fault; a finished
          // one means the bytes came after the archive's end.
          await Promise.race([taken, settled]).catch(async () => {
            await extraction;
          });
        },
        end: async () => {
          pass.end();
          await extraction;
        },
        abort: async () => {
          // without an error: nobody may be listening for one any more (the extraction stopped)
          pass.destroy();
          await extraction.catch(() => undefined);
        },
      };
    };
    // zip needs its central directory before the first entry: it is extracted from the package
    // while the copy reads it, and kept only if the package's identity stayed the same meanwhile
    const zipSink = async (): Promise<CopySink> => {
      const stop = new AbortController();
      const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
      const onProgress = progress && ((d: number, t: number) => progress('hash+copy+extract', d, t));
      const extraction = extractArchive({ ...extractOptions(await newStaging()), signal, file: source.path, onProgress });
      streamed = extraction;
      extraction.catch(() => undefined);
      return {
        takesBytes: false,
        write: async () => undefined,
        end: async () => {
          await extraction;
        },
        abort: async () => {
          stop.abort();
          await extraction.catch(() => undefined);
        },
      };
    };
    const sink = source.format === 'zip' ? zipSink : tarSink;
    const copyProgress = progress && ((d: number, t: number) => (streamed ? undefined : progress('hash+copy', d, t)));
    const cached = await cacheArchive({ source, cacheDir: paths.cache, log, freeBytes, reserve, signal: o.signal, sink, racyMarginMs: o.racyMarginMs, onProgress: copyProgress });
    // a refused package is dropped from the cache, unless the cache file is the user's own archive
    if (!cached.isSource) cacheFile = cached.file;

    if (!o.force) {
      const done = await alreadyInstalled(cached.sha256, 'sha256');
      if (done) return done;
    } else if (current && current.sha256 === cached.sha256) {
      log.info({ phase: 'idempotency' }, '--force: reinstalling the same archive');
    }

    let result: ExtractResult;
    if (cached.fed && streamed && (source.format !== 'zip' || cached.stable)) result = await streamed;
    else {
      if (cached.fed) log.info({ phase: 'extract' }, 'the package was modified moments before or while it was read; extracting the cached copy instead');
      if (staging) await rm(staging, { recursive: true, force: true });
      result = await extractArchive({ ...extractOptions(await newStaging()), file: cached.file, onProgress: progress && ((d, t) => progress('extract', d, t)) });
    }
    const extracted = path.join(staging!, 'x');
    log.info({ phase: 'extract', entries: result.entries, bytes: result.bytes }, `extracted ${result.entries} entries, ${formatBytes(result.bytes)}`);

    const layout = await normaliseLayout(extracted, staging!, result.links);
    log.info({ phase: 'layout', layout: layout.name }, `archive layout: ${layout.name}`);
    // the tree goes to the disk while the smoke test runs
    durable = makeDurable(layout.tree, o.signal);
    durable.catch(() => undefined);

    log.info({ phase: 'smoke-test' }, 'running bin/llama-server --version');
    const { parseVersion, smokeTest } = await loadSmokeTest();
    const versionOutput = await smokeTest(layout.tree, env, o.smokeTimeoutMs, o.signal);
    const serverVersion = parseVersion(versionOutput);
    log.info({ phase: 'smoke-test', version: serverVersion }, `llama-server starts: ${serverVersion ?? 'ok'}`);

    const release = await releaseName(paths.releases, cached.sha256);
    await ensureShims(paths).catch((error: unknown) => {
      log.warn({ phase: 'activate', dir: paths.shims }, `cannot write the shims into ${paths.shims} (${(error as Error).message}): the convenience links will dangle until it has them`);
    });
    await writeConvenienceLinks(layout.tree, paths, { replace: true });
    const marker: InstalledMarker & { llama_server_version?: string } = {
      archive_name: source.name,
      sha256: cached.sha256,
      installed_at_unix: Math.floor(Date.now() / 1000),
      size: source.size,
      source_path: source.path,
      format: source.format,
      entries: result.entries,
      bytes: result.bytes,
      installer_version: VERSION,
      duration_ms: Date.now() - started,
      release,
      ...(serverVersion ? { llama_server_version: serverVersion } : {}),
      manifest: buildManifest(layout.tree),
    };
    await writeMarker(layout.tree, marker);
    await durable;
    // written after the sync began: the marker, and the tree's entries for it and the links
    await fsyncPaths([path.join(layout.tree, MARKER_FILE), layout.tree]);
    const releaseDir = path.join(paths.releases, release);
    await rename(layout.tree, releaseDir);
    // the release's name, before the link names it
    await fsyncPaths([paths.releases]);

    const previous = await activate(paths, release, log);
    log.info({ phase: 'activate', release: releaseDir, previous }, `activated ${paths.install} -> ${path.relative(paths.root, releaseDir)}`);
    await rm(staging!, { recursive: true, force: true });
    staging = null;
    await pruneReleases(paths, log);
    return outcome('installed', cached.sha256, 'sha256', releaseDir, result.entries, result.bytes);
  } catch (error) {
    // a package we refused is not worth keeping in the cache
    if (error instanceof PackageError && cacheFile) await removeCached(cacheFile).catch(() => undefined);
    // a disk that fills up (or fails) while writing the marker, the links or the release is a
    // user-facing I/O error (74 with the space needed), not an internal error with a stack trace
    if (!isInferEntryError(error) && (error as { syscall?: unknown }).syscall !== undefined) {
      throw await writeFailure(error, freeBytes, paths.releases, reserve, 'finish the install');
    }
    throw error;
  } finally {
    tty?.finish();
    await durable?.catch(() => undefined);
    if (staging) await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    await lock.release();
  }
}

async function releaseName(releases: string, sha256: string): Promise<string> {
  const base = sha256.slice(0, 16);
  const taken = await lstat(path.join(releases, base)).then(() => true, () => false);
  return taken ? `${base}-${Date.now().toString(36)}` : base;
}
