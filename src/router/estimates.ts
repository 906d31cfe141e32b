/** What the scheduler has learned about a model, for an honest Retry-After. */
const ALPHA = 0.3;

export class Estimates {
  /** Start → ready and warm, ms; null until the first load. */
  loadMs: number | null = null;
  /** Grant → release, ms; null until the first request ends. */
  serviceMs: number | null = null;

  noteLoad(ms: number): void {
    this.loadMs = this.loadMs === null ? ms : this.loadMs * (1 - ALPHA) + ms * ALPHA;
  }

  noteService(ms: number): void {
    this.serviceMs = this.serviceMs === null ? ms : this.serviceMs * (1 - ALPHA) + ms * ALPHA;
  }

  /** Seconds until a request queued behind `ahead` others is likely to be served. */
  retryAfterSeconds(ahead: number, concurrency: number, needsLoad: boolean): number {
    const load = needsLoad ? (this.loadMs ?? 10_000) : 0;
    const drain = ((ahead + 1) * (this.serviceMs ?? 1_000)) / Math.max(1, concurrency);
    return Math.max(1, Math.ceil((load + drain) / 1000));
  }
}
