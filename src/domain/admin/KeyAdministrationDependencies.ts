import type { Clock } from '../Clock.js';
import type { KeyRepository } from '../KeyRepository.js';
import type { PageTokens } from '../pageToken.js';
import type { PropagationWaiter } from '../Propagation.js';
import type { ScopeCatalog } from '../ScopeCatalog.js';
import type { ApiKeyRecord } from '../types.js';

/** What the key-administration use cases work with; each use case takes the part it reads. */
export interface KeyAdministrationDependencies {
  readonly repository: KeyRepository;
  readonly scopes: ScopeCatalog;
  readonly clock: Clock;
  /** Lifetime of keys created without `expiresInHours`, 1…8760. */
  readonly defaultLifetimeHours: number;
  /** Issues and checks the listings' page tokens, under the secret every replica shares. */
  readonly pageTokens: PageTokens;
  /** Called after a write commits with the keys it changed, so caches drop them before the RPC returns. */
  readonly onKeysChanged?: (keys: readonly ApiKeyRecord[]) => Promise<void> | void;
  /** Called after a key is created and committed (the filter of known keys learns it at once); must not block. */
  readonly onKeysCreated?: (keys: readonly ApiKeyRecord[]) => void;
  /**
   * Waits, after `onKeysChanged`, until the other replicas have applied a revoke, update, rotation or
   * revocation of a user's keys; their results say how far it got. Absent: nobody waits.
   */
  readonly propagation?: PropagationWaiter;
}
