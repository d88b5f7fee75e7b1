import type { TextMapPropagator, Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';

import { applyDefaultDeadline } from './applyDefaultDeadline.js';
import { authenticateCaller } from './authenticateCaller.js';
import type { Authenticate } from './CallContext.js';
import { CallPipeline } from './CallPipeline.js';
import { composePipeline } from './composePipeline.js';
import { mapErrorsToStatus } from './mapErrorsToStatus.js';
import type { LogBudget } from './LogBudget.js';
import type { Middleware } from './Middleware.js';
import { observingSteps } from './observingSteps.js';
import type { RpcObserver } from './recordMetrics.js';
import { refuseExpiredDeadline } from './refuseExpiredDeadline.js';
import { refuseUndecodable } from './refuseUndecodable.js';
import { traceCalls } from './traceCalls.js';

/** What every method of a service shares: where to log, who may call, what to record. */
export interface ServiceOptions {
  readonly logger: Logger;
  /** Caller authentication; omitted: every caller is `anonymous` and nothing is checked per call. */
  readonly authenticate?: Authenticate | undefined;
  /** RPC metrics; omitted: nothing is recorded. */
  readonly observe?: RpcObserver | undefined;
  /** Deadline of a call that carries none (ms); omitted: such calls have none. */
  readonly defaultDeadlineMs?: number | undefined;
  /** Told of each call ended by that default deadline (a metric). */
  readonly onDefaultDeadline?: (() => void) | undefined;
  /** How many failed calls are logged a second (shared by every service); omitted: all of them. */
  readonly failureLogBudget?: LogBudget | undefined;
  /** Traces (a server span per call); omitted: no step, no cost. */
  readonly tracing?: { readonly tracer: Tracer; readonly propagator: TextMapPropagator } | undefined;
}

/**
 * The standard pipeline of a service, outermost first: the call's span (when traced), so every step runs
 * inside it; metrics and the log line see every call, refused
 * ones included (a caller the server interceptor refused never reaches the pipeline: createRejectionReporter
 * runs the same observing steps for it); an expired call is refused before anyone is asked; a call without
 * a deadline gets the service's default; errors become statuses inside them,
 * so they see the status; the caller is authenticated before the request's bytes are looked at. Steps a
 * service does not need (no authentication, no metrics) are left out rather than skipped per call.
 */
export function createCallPipeline(options: ServiceOptions): CallPipeline {
  const steps: Middleware[] = [
    ...(options.tracing === undefined ? [] : [traceCalls(options.tracing.tracer, options.tracing.propagator)]),
    ...observingSteps(options),
    refuseExpiredDeadline,
    ...(options.defaultDeadlineMs === undefined
      ? []
      : [applyDefaultDeadline(options.defaultDeadlineMs, options.onDefaultDeadline)]),
    mapErrorsToStatus,
    ...(options.authenticate === undefined ? [] : [authenticateCaller(options.authenticate)]),
    refuseUndecodable,
  ];
  return new CallPipeline(composePipeline(steps));
}
