import { expect } from 'vitest';

import type { KeyAdministrationDependencies } from '../../../src/domain/admin/KeyAdministrationDependencies.js';
import { PageTokens } from '../../../src/domain/pageToken.js';
import { ScopeCatalog } from '../../../src/domain/ScopeCatalog.js';
import type { Actor, ApiKeyRecord, AuditEventRecord, Role } from '../../../src/domain/types.js';
import { InMemoryKeyRepository } from '../../storage/InMemoryKeyRepository.js';

/** A fixed instant the use-case tests count from (epoch ms). */
export const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
export const HOUR = 3_600_000;

/** An actor of `org-a` (or `organizationId`) with `role`. */
export function actor(role: Role, userId = `${role}-user`, organizationId = 'org-a'): Actor {
  return { organizationId, userId, role, caller: 'backend-a' };
}

export const ADMIN = actor('admin', 'alice');
export const READ_ONLY_ADMIN = actor('read_only_admin', 'rita');
export const MEMBER = actor('member', 'mo');

/** The dependencies of the use cases over an in-memory repository, a settable clock and a change log. */
export interface AdminFixture {
  readonly deps: KeyAdministrationDependencies;
  readonly repository: InMemoryKeyRepository;
  /** Moves the clock `hours` forward. */
  advance(hours: number): void;
  /** Every `onKeysChanged` call, as the ids it named. */
  readonly announced: string[][];
  /** The organization's audit trail, oldest first (events of one instant in id order: advance the clock). */
  auditTrail(organizationId?: string): Promise<AuditEventRecord[]>;
  /** The key as stored. */
  stored(keyId: string): Promise<ApiKeyRecord | null>;
}

/** A fresh fixture: empty repository, clock at NOW, default scope catalog, default lifetime 720 h. */
export function adminFixture(): AdminFixture {
  const repository = new InMemoryKeyRepository();
  let now = NOW;
  const announced: string[][] = [];
  return {
    repository,
    announced,
    deps: {
      repository,
      scopes: ScopeCatalog.default(),
      clock: { now: () => now },
      defaultLifetimeHours: 720,
      pageTokens: new PageTokens(() => Buffer.alloc(32, 1)),
      onKeysChanged: (keys) => {
        announced.push(keys.map((key) => key.id));
      },
    },
    advance: (hours) => {
      now += hours * HOUR;
    },
    auditTrail: async (organizationId = 'org-a') =>
      (await repository.listAuditEvents({ organizationId, limit: 1000 })).reverse(),
    stored: (keyId) => repository.findById('org-a', keyId),
  };
}

/** Expects `work` to fail with an AppError of `code` whose public message is exactly `message`. */
export async function expectRefusal(work: Promise<unknown> | (() => unknown), code: string, message: string | RegExp) {
  const settled = typeof work === 'function' ? Promise.resolve().then(work) : work;
  const error: unknown = await settled.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toMatchObject({ name: 'AppError', code });
  if (typeof message === 'string') expect((error as Error).message).toBe(message);
  else expect((error as Error).message).toMatch(message);
}
