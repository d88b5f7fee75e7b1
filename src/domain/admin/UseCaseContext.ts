/**
 * What a use case knows of the call it serves besides the actor and the input. Optional everywhere, so a
 * use case called from a test or a script needs none.
 */
export interface UseCaseContext {
  /**
   * Aborts when nobody waits for the answer any more (the caller cancelled, its deadline passed, or
   * shutdown cancelled the call): a write still in its transaction is rolled back and its row locks
   * released at once, rather than held until it finishes for nobody.
   */
  readonly signal?: AbortSignal;
  /**
   * Milliseconds the caller still waits for the answer (its deadline); undefined or Infinity: no
   * deadline. A write does not spend the last of it waiting for other replicas, so a caller with a short
   * deadline gets the committed result (with an incomplete propagation) rather than DEADLINE_EXCEEDED.
   */
  readonly remainingMs?: () => number;
}
