import { beforeAll, afterAll, beforeEach } from 'vitest';

import type { KeyChange, KeyRepository } from '../../src/domain/KeyRepository.js';

/** One repository under test, empty. */
export interface ContractSubject {
  readonly repository: KeyRepository;
  /**
   * Makes a change-feed row with exactly this id visible at once, as a commit by another replica does.
   * Lets the cases produce out-of-order commits and gaps on every implementation alike.
   */
  commitChange(change: KeyChange): Promise<void>;
}

/** How a contract run reaches one implementation. */
export interface ContractTarget {
  /** Once before the cases (create the database, migrate). */
  open(): Promise<void>;
  /** Before every case: an empty repository whose change ids start again at 1. */
  fresh(): Promise<ContractSubject>;
  /** Once after the cases. */
  close(): Promise<void>;
}

/** Declares the lifecycle hooks and returns a getter for the current case's subject. */
export function useContractTarget(target: ContractTarget): () => ContractSubject {
  let subject: ContractSubject | undefined;
  beforeAll(() => target.open());
  afterAll(() => target.close());
  beforeEach(async () => {
    subject = await target.fresh();
  });
  return () => {
    if (subject === undefined) throw new Error('no contract subject: fresh() has not run');
    return subject;
  };
}
