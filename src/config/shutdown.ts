import { documented } from './documented.js';
import { intRange } from './validators.js';

/** How a graceful stop shares its time (the rule itself is src/lifecycle/StopDeadline.ts). */
export const SHUTDOWN_SETTINGS = {
  SHUTDOWN_TIMEOUT_MS: documented(
    intRange(
      0,
      600_000,
    )({
      default: 10_000,
      desc: 'on SIGTERM/SIGINT, the whole graceful stop: in-flight calls (cancelled after ¾ of it, at most 2 s before the end), the final last-used flush and the pool close',
    }),
    '`10000`',
  ),
};
