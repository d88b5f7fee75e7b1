/**
 * Preloaded into a service process (`--import` after tsx) to give it a wall clock the test controls:
 * `Date.now()` is the real time plus the number of ms written in the file FAKE_WALL_CLOCK_FILE names,
 * re-read every 20 ms (`-3600000`: the clock was stepped back an hour). Only `Date.now()` moves (the
 * service's `systemClock` and pino's timestamps read it); `performance.now()` does not, as a real clock
 * step does not move the monotonic clock.
 */
import { readFileSync } from 'node:fs';

const file = process.env.FAKE_WALL_CLOCK_FILE;
if (file !== undefined) {
  const realNow = Date.now.bind(Date);
  let offsetMs = 0;
  const read = (): void => {
    try {
      const value = Number(readFileSync(file, 'utf8').trim());
      if (Number.isFinite(value)) offsetMs = value;
    } catch {
      // not written yet, or being rewritten: keep the last offset
    }
  };
  read();
  setInterval(read, 20).unref();
  Date.now = () => realNow() + offsetMs;
}
