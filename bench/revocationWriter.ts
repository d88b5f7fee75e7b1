/**
 * The write load of `bench/feedLoad.ts`: RevokeKey (the domain use case, over its own KnexKeyRepository
 * and pool) at a steady rate, one key after another, so every poll of every simulated replica has a few
 * new feed rows to read. Counts the statements it sends (knex `query` events: BEGIN and COMMIT included),
 * so the benchmark can tell the writer's share of the server's statements from the feed's.
 */
import type { Knex } from 'knex';

import { revokeKey } from '../src/domain/admin/revokeKey.js';
import { systemClock } from '../src/domain/Clock.js';
import type { Actor } from '../src/domain/types.js';
import { KnexKeyRepository } from '../src/storage/KnexKeyRepository.js';

/** Revokes `keyIds` in order, `perSecond` a second, until stopped or out of keys. */
export class RevocationWriter {
  /** Statements sent so far. */
  statements = 0;
  /** Revocations committed so far. */
  revocations = 0;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly db: Knex,
    private readonly actor: Actor,
    private readonly keyIds: readonly string[],
    private readonly perSecond: number,
  ) {
    db.on('query', () => this.statements++);
  }

  start(): void {
    this.running = this.run();
    // Reported by stop(), not as an unhandled rejection in the middle of a measurement.
    this.running.catch(() => undefined);
  }

  /** Stops after the revocation in progress; rejects if one failed. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async run(): Promise<void> {
    const deps = { repository: new KnexKeyRepository(this.db), clock: systemClock };
    const intervalMs = 1000 / this.perSecond;
    let next = performance.now();
    for (const keyId of this.keyIds) {
      if (this.stopped) return;
      await revokeKey(deps, this.actor, keyId, 'feed load benchmark');
      this.revocations++;
      // A fixed schedule, not a fixed pause: a slow revocation does not lower the rate that follows.
      next += intervalMs;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    throw new Error(`the writer ran out of keys after ${this.revocations} revocations: seed more`);
  }
}
