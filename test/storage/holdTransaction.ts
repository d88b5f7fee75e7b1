import type { KeyRepository, KeyTransaction } from '../../src/domain/KeyRepository.js';

/** A transaction held open between its two steps. */
export interface HeldTransaction {
  /** Lets the transaction run `finish` and commit; resolves when it has committed. */
  commit(): Promise<void>;
}

/**
 * Opens a transaction, runs `begin` in it and returns once `begin` is done, holding the transaction
 * (and whatever `begin` locked) open until `commit()`; then runs `finish` and commits.
 */
export async function holdTransaction(
  repository: KeyRepository,
  begin: (tx: KeyTransaction) => Promise<void>,
  finish: (tx: KeyTransaction) => Promise<void> = () => Promise.resolve(),
): Promise<HeldTransaction> {
  let begun = (): void => undefined;
  let release = (): void => undefined;
  const beginDone = new Promise<void>((resolve) => (begun = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const done = repository.transaction(async (tx) => {
    await begin(tx);
    begun();
    await released;
    await finish(tx);
  });
  // A transaction that fails in `begin` must not leave the caller waiting for it forever.
  await Promise.race([beginDone, done]);
  return {
    commit: () => {
      release();
      return done;
    },
  };
}
