import { context, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';

/**
 * Runs `operation` inside a client span `name` (`SELECT api_keys`) with the database semantic conventions'
 * attributes, when a traced call is active (a cache miss of VerifyKey or Check, an admin write); otherwise
 * (background refreshes, the change feed, tracing off) as it is. Never records the statement's values.
 */
export function traceQuery<T>(
  tracer: Tracer | undefined,
  name: string,
  attributes: { readonly system: string; readonly operation: string; readonly collection: string },
  operation: () => Promise<T>,
): Promise<T> {
  if (tracer === undefined || trace.getSpan(context.active()) === undefined) return operation();
  return tracer.startActiveSpan(
    name,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'db.system.name': attributes.system,
        'db.operation.name': attributes.operation,
        'db.collection.name': attributes.collection,
      },
    },
    async (span) => {
      try {
        return await operation();
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}
