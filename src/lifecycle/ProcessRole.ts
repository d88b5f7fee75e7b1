import type { Lifecycle } from './Lifecycle.js';

/**
 * What one kind of process (a lone process, a cluster primary, a worker) runs: main starts and stops
 * every kind the same way.
 */
export interface ProcessRole {
  /** The process's components, in start order. */
  readonly lifecycle: Lifecycle;
  /** What SIGHUP does. */
  reload(): void;
  /**
   * After start: resolves with the port to report in the "listening" line, or null when another process
   * reports it (a worker: its primary does).
   */
  listening(): Promise<number | null>;
  /** Fields of the "listening" line besides the address and the database. */
  readonly listeningFields: Readonly<Record<string, unknown>>;
}
