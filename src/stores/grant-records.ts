import type { StoredGrant } from '../core/types.js';

/**
 * How long a deleted grant's version is remembered. A write still in flight from before the
 * delete expects that version; without the mark it could land on a new grant that started again
 * at 1 (the tenant authorized anew) and write an old refresh token over the new one. No write
 * stays in flight a week.
 */
export const GRANT_TOMBSTONE_MS = 7 * 24 * 3600_000;

/** A grant as the stores of one process keep it: live (a value, no expiry) or deleted (no value, the mark's expiry). */
export interface GrantRecord {
  readonly value: string | undefined;
  readonly version: number;
  /** Epoch ms when a deletion mark may be forgotten; null for a live grant. */
  readonly expiresAt: number | null;
}

/** The record as seen at `now`: a deletion mark past its expiry is as good as nothing. */
function current(record: GrantRecord | undefined, now: number): GrantRecord | undefined {
  return record !== undefined && record.expiresAt !== null && record.expiresAt <= now ? undefined : record;
}

/** The live grant, if any. */
export function liveGrant(record: GrantRecord | undefined): StoredGrant | undefined {
  return record?.value === undefined ? undefined : { value: record.value, version: record.version };
}

/**
 * The record a compare-and-set writes, or undefined when it is refused: a live grant is replaced
 * only by a write that expects its version; a new one (nothing live) only by a write that expects
 * 0, and it starts above a deleted one's version.
 */
export function putGrantRecord(stored: GrantRecord | undefined, value: string, expectedVersion: number, now: number): GrantRecord | undefined {
  const record = current(stored, now);
  const live = record?.value !== undefined;
  if (live ? record.version !== expectedVersion : expectedVersion !== 0) return undefined;
  return { value, version: (record?.version ?? 0) + 1, expiresAt: null };
}

/** The deletion mark that replaces a live grant, or undefined when there is none (or its version is not the expected one). */
export function deleteGrantRecord(stored: GrantRecord | undefined, expectedVersion: number | undefined, now: number): GrantRecord | undefined {
  if (stored?.value === undefined) return undefined;
  if (expectedVersion !== undefined && stored.version !== expectedVersion) return undefined;
  return { value: undefined, version: stored.version, expiresAt: now + GRANT_TOMBSTONE_MS };
}

/** Whether a record may be dropped: a deletion mark past its expiry. */
export function grantRecordExpired(record: GrantRecord, now: number): boolean {
  return record.expiresAt !== null && record.expiresAt <= now;
}
