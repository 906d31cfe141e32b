/** The installer's public surface (boot, status and the CLI use only this). */
export { installPackage } from './entry.js';
export { installOnBoot } from './on-boot.js';
export { ensureConvenienceLinks } from './convenience-links.js';
export { readInstalledMarker } from './marker.js';
export { rollback, type RollbackOutcome } from './rollback.js';
export type { ArchiveFormat, InstallOutcome, InstalledMarker, ManifestEntry } from './types.js';
