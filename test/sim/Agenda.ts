/** What `after` returns: enough of a Node timer for code that calls `setTimeout(…).unref()`. */
export interface AgendaHandle {
  cancel(): void;
  unref(): AgendaHandle;
  ref(): AgendaHandle;
  hasRef(): boolean;
}

/** A scheduled event of the simulation; it is its own handle. */
class Entry implements AgendaHandle {
  cancelled = false;

  constructor(
    readonly at: number,
    readonly seq: number,
    readonly run: () => void,
  ) {}

  cancel(): void {
    this.cancelled = true;
  }

  unref(): AgendaHandle {
    return this;
  }

  ref(): AgendaHandle {
    return this;
  }

  hasRef(): boolean {
    return false;
  }
}

/**
 * What happens next in simulated time: events run in time order, ties in the order they were scheduled,
 * so one seed always gives one schedule. Nothing here touches a real timer.
 */
export class Agenda {
  private entries: Entry[] = [];
  private seq = 0;
  /** Simulated monotonic time (ms); it only moves when `runUntil` reaches an event or its target. */
  now: number;

  constructor(start: number) {
    this.now = start;
  }

  /** Runs `run` `delayMs` from now (at least 0). */
  after(delayMs: number, run: () => void): AgendaHandle {
    const entry = new Entry(this.now + Math.max(0, delayMs), this.seq++, run);
    // Few entries are pending at once: an ordered insert from the end is cheaper than a heap here.
    let index = this.entries.length;
    while (index > 0) {
      const before = this.entries[index - 1];
      if (before === undefined || before.at < entry.at || (before.at === entry.at && before.seq < entry.seq)) break;
      index--;
    }
    this.entries.splice(index, 0, entry);
    return entry;
  }

  /** Removes and returns the next event if it is due by `target`; moves the clock to it. */
  takeDue(target: number): (() => void) | undefined {
    for (;;) {
      const first = this.entries[0];
      if (first === undefined || first.at > target) return undefined;
      this.entries.shift();
      if (first.cancelled) continue;
      this.now = Math.max(this.now, first.at);
      return first.run;
    }
  }
}
