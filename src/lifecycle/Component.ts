import type { StopDeadline } from './StopDeadline.js';

/**
 * A long-lived part with its own timer or socket. A Lifecycle starts components in their declared order
 * and stops them in the reverse order.
 *
 * `start` either brings the component up or throws leaving nothing of it running (the components started
 * before it are stopped again). `stop`, called only on a started component, ends by `deadline`: the
 * shared shutdown budget (StopDeadline says how it is shared).
 */
export interface Component {
  /** Nothing, or a promise (awaited) that may resolve to anything: App.start resolves with its port. */
  start(): unknown;
  stop(deadline: StopDeadline): Promise<void> | void;
}
