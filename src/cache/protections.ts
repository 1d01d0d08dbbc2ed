/**
 * The cache's protections, each switchable off only by the test-only factory
 * (`unprotectedCache` in test/helpers/cache.ts): the race tests run every race
 * twice, with and without its protection, to prove that the protection is
 * what prevents it. Production code always uses FULL_PROTECTION.
 */
export interface Protections {
  /** Lease-guarded L2 fills (off: plain GET/SET, which allows stale sets). */
  readonly leases: boolean;
  /** Discard L1 fills that an invalidation overtook (off: store them anyway). */
  readonly fillTracking: boolean;
  /** Clear L1 on seq gaps, restarts, resubscribes and heartbeat loss (off: keep it). */
  readonly resets: boolean;
}

export const FULL_PROTECTION: Protections = Object.freeze({
  leases: true,
  fillTracking: true,
  resets: true,
});
