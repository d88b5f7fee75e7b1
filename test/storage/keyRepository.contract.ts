import { beforeAll, afterAll, beforeEach } from 'vitest';

import type { KeyRepository } from '../../src/domain/KeyRepository.js';

/** One repository under test, empty. */
export interface ContractSubject {
  readonly repository: KeyRepository;
}

/** What some implementations do and others cannot; a case that needs one is skipped where it is false. */
export interface ContractCapabilities {
  /** A read outside a transaction answers while another transaction is open (not SQLite: one connection). */
  readonly readsDuringTransactions: boolean;
  /** Transactions on different keys run at once (MySQL), so one can commit while another is open. */
  readonly concurrentTransactions: boolean;
  /**
   * An abort of TransactionOptions.signal ends a transaction that is already open (MySQL, memory); on
   * SQLite's synchronous driver only an abort before it starts counts.
   */
  readonly cancelsOpenTransactions: boolean;
}

/** How a contract run reaches one implementation. */
export interface ContractTarget {
  readonly capabilities: ContractCapabilities;
  /** Once before the cases (create the database, migrate). */
  open(): Promise<void>;
  /** Before every case: an empty repository whose feed positions start again at 1. */
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
