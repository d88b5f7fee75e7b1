import { invalidArgument } from '../AppError.js';
import { hashSecret, hasKeyLength, isWellFormedKey } from '../keyFormat.js';
import { setTo } from '../FieldUpdate.js';
import { applyKeyPatch, keyPatch, type KeyPatch } from '../KeyPatch.js';
import type { Propagation } from '../Propagation.js';
import { keyStateAt, type ApiKeyRecord } from '../types.js';
import { codePointLength } from '../validation.js';
import { awaitPropagation, committedPosition } from './acknowledgement.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { newId } from './newId.js';
import type { UseCaseContext } from './UseCaseContext.js';

export const MAX_LEAK_CANDIDATES = 100;
export const MAX_LEAK_LOCATION_LENGTH = 400;
/** Who revoked a leaked key: no user did, and no user id can look like this (ids have no spaces). */
export const LEAK_REVOKER = '(leak report)';
const FORBIDDEN_IN_TEXT = /[\p{Cc}\u202A-\u202E\u2066-\u2069\uFFFD]/u;

/** One string a secret scanner found, and where. */
export interface LeakCandidate {
  readonly key: string;
  readonly location: string;
}

/** What was done with one candidate. */
export type LeakResult =
  | { readonly outcome: 'not_a_key' | 'unknown' }
  | { readonly outcome: 'already_inactive' | 'revoked'; readonly key: ApiKeyRecord };

/** The results in request order, and how far the revocations reached the replicas. */
export interface LeakReport {
  readonly results: readonly LeakResult[];
  readonly propagation: Propagation | null;
}

/**
 * Revokes every active (or suspended) key among the candidates at once, with the reason "leaked" and
 * where it was found, audited with the reporting caller and no user. A candidate not shaped like a key is
 * answered without the database; the caller's right to report was checked by the transport
 * (LEAK_REPORTER_CLIENT_IDS), there is no actor.
 */
export async function reportLeakedKeys(
  deps: Pick<KeyAdministrationDependencies, 'repository' | 'clock' | 'onKeysChanged' | 'propagation'>,
  caller: string,
  candidates: readonly LeakCandidate[],
  context: UseCaseContext = {},
): Promise<LeakReport> {
  if (candidates.length === 0 || candidates.length > MAX_LEAK_CANDIDATES) {
    throw invalidArgument(`candidates: 1–${MAX_LEAK_CANDIDATES} entries required, got ${candidates.length}`);
  }
  const locations = candidates.map((candidate, index) => normalizeLocation(candidate.location, index));
  const committed = committedPosition();
  const changed: ApiKeyRecord[] = [];
  const results: LeakResult[] = [];
  for (const [index, candidate] of candidates.entries()) {
    if (!hasKeyLength(candidate.key) || !isWellFormedKey(candidate.key)) {
      results.push({ outcome: 'not_a_key' });
      continue;
    }
    const secretHash = hashSecret(candidate.key);
    const found = await deps.repository.findByHash(secretHash);
    if (found === null) {
      results.push({ outcome: 'unknown' });
      continue;
    }
    const reason = `leaked: ${locations[index] === '' ? 'location not given' : `found at ${locations[index] ?? ''}`}`;
    const result = await deps.repository.transaction(
      async (tx): Promise<LeakResult> => {
        const key = await tx.lockKey(found.organizationId, found.id);
        const now = deps.clock.now();
        if (key === null) return { outcome: 'unknown' };
        const state = keyStateAt(key, now);
        if (state === 'revoked' || state === 'expired') return { outcome: 'already_inactive', key };
        const patch: KeyPatch = {
          ...keyPatch(now),
          revokeTime: setTo(now),
          revokedByUserId: setTo(LEAK_REVOKER),
          revokeReason: setTo(reason),
        };
        await tx.updateKey(key, patch);
        await tx.insertAuditEvent({
          id: newId('evt'),
          organizationId: key.organizationId,
          keyId: key.id,
          action: 'key_revoked',
          actorUserId: '',
          actorRole: 'none',
          caller,
          createTime: now,
          relatedKeyId: null,
          changes: [],
          reason,
        });
        return { outcome: 'revoked', key: applyKeyPatch(key, patch) };
      },
      { ...context, ...committed.options },
    );
    if (result.outcome === 'revoked') changed.push(result.key);
    results.push(result);
  }
  if (changed.length === 0) return { results, propagation: null };
  await deps.onKeysChanged?.(changed);
  return { results, propagation: await awaitPropagation(deps, committed, context) };
}

function normalizeLocation(value: string, index: number): string {
  const trimmed = value.trim();
  const length = codePointLength(trimmed);
  if (length > MAX_LEAK_LOCATION_LENGTH) {
    throw invalidArgument(
      `candidates[${index}].location must be at most ${MAX_LEAK_LOCATION_LENGTH} characters, got ${length}`,
    );
  }
  if (FORBIDDEN_IN_TEXT.test(trimmed)) {
    throw invalidArgument(`candidates[${index}].location must not contain control characters or invalid UTF-8`);
  }
  return trimmed;
}
