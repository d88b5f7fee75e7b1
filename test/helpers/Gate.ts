/**
 * Holds asynchronous work until released, so a test can act while a fake database call is in flight:
 * `hold()` closes the gate, `await pass()` waits while it is closed, `release()` lets everything waiting
 * through and opens it again.
 */
export class Gate {
  private waiting: (() => void)[] | undefined;

  /** From now on pass() waits for release(). */
  hold(): void {
    this.waiting = [];
  }

  release(): void {
    const waiting = this.waiting ?? [];
    this.waiting = undefined;
    for (const resume of waiting) resume();
  }

  /** Resolves at once when open, else at the next release(). */
  async pass(): Promise<void> {
    const waiting = this.waiting;
    if (waiting !== undefined) await new Promise<void>((resume) => waiting.push(resume));
  }
}
