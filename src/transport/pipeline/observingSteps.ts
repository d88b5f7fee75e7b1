import type { ServiceOptions } from './createCallPipeline.js';
import { logCalls } from './logCalls.js';
import type { Middleware } from './Middleware.js';
import { recordMetrics } from './recordMetrics.js';

/**
 * The steps that watch how a call ended, outermost first: RPC metrics (when observed) and the log line.
 * One list for the call pipeline and for callers refused before it (createRejectionReporter), so both
 * are logged and counted alike.
 */
export function observingSteps(options: ServiceOptions): Middleware[] {
  return [
    ...(options.observe === undefined ? [] : [recordMetrics(options.observe)]),
    logCalls(options.logger, options.rejectionLogBudget),
  ];
}
