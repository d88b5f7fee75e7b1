/** IPC messages between the primary and the workers of one replica. */
export type WorkerToPrimary =
  | { readonly type: 'invalidate'; readonly id: number; readonly hashes: string[] }
  | { readonly type: 'invalidated'; readonly id: number }
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'stats'; readonly id: number; readonly stats: WorkerStats };

export type PrimaryToWorker =
  | { readonly type: 'invalidate'; readonly id: number; readonly hashes: string[] }
  | { readonly type: 'invalidate-done'; readonly id: number }
  | { readonly type: 'stats'; readonly id: number };

/** Counters a worker reports (benchmark, tests). */
export type WorkerStats = Record<string, Record<string, number>>;

function hasType(value: unknown): value is { type: string } {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/** Narrows a message a worker sent (IPC carries arbitrary JSON). */
export function isWorkerMessage(value: unknown): value is WorkerToPrimary {
  return hasType(value) && ['invalidate', 'invalidated', 'listening', 'stats'].includes(value.type);
}

/** Narrows a message the primary sent. */
export function isPrimaryMessage(value: unknown): value is PrimaryToWorker {
  return hasType(value) && ['invalidate', 'invalidate-done', 'stats'].includes(value.type);
}

/**
 * What a supervisor that started this process with an IPC channel (child_process.fork, as the benchmark
 * does) may ask: every process's counters. Its `id` is the supervisor's own and is echoed unchanged.
 */
export interface SupervisorRequest {
  readonly type: 'stats';
  readonly id: unknown;
}

/** The answer to a SupervisorRequest: one entry per serving process (each worker, or the lone process). */
export interface SupervisorReply {
  readonly type: 'stats';
  readonly id: unknown;
  readonly stats: WorkerStats[];
}

/** Narrows a message from the supervisor. */
export function isSupervisorRequest(value: unknown): value is SupervisorRequest {
  return hasType(value) && value.type === 'stats';
}
