/**
 * At most `perSecond` log lines of one kind a second, process-wide; what is beyond is counted and reported
 * in one line (through `onSuppressed`) at the end of the second. The lines it governs are those a caller
 * without a credential can cause at will (refusals): without a budget, 100,000 refused streams write
 * 100,000 warnings, which costs the service more CPU than refusing them and fills its log. Metrics still
 * count every refusal.
 */
export class LogBudget {
  private windowStart = 0;
  private used = 0;
  private suppressed = 0;
  private flushTimer: NodeJS.Timeout | undefined;

  /** `perSecond` 0: no budget, every line is written. */
  constructor(
    readonly perSecond: number,
    private readonly onSuppressed: (count: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether one more line may be written now; if not, it is counted as suppressed. */
  admit(): boolean {
    if (this.perSecond === 0) return true;
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.flush();
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used < this.perSecond) {
      this.used += 1;
      return true;
    }
    this.suppressed += 1;
    if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => this.flush(), Math.max(0, this.windowStart + 1000 - now));
      this.flushTimer.unref();
    }
    return false;
  }

  /** Reports what was suppressed so far, if anything. */
  flush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    this.onSuppressed(count);
  }
}
