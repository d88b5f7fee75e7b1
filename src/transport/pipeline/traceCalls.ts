import type { Metadata } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import {
  type Attributes,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  trace,
  type Tracer,
} from '@opentelemetry/api';

import { CallFailure } from './CallFailure.js';
import type { Middleware, Next } from './Middleware.js';
import type { RpcCall } from './RpcCall.js';

/** Reads `traceparent` / `tracestate` from a call's metadata (first value of each). */
const METADATA_GETTER: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key);
    return values.length === 0 ? undefined : String(values[0]);
  },
};

/** Server span statuses the gRPC semantic conventions count as errors (the server's own faults). */
const SERVER_ERRORS: ReadonlySet<number> = new Set([
  status.UNKNOWN,
  status.DEADLINE_EXCEEDED,
  status.UNIMPLEMENTED,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

/** The span's fixed attributes, per method (built once per method path). */
const methodAttributes = new Map<string, Attributes>();

function attributesOf(path: string): Attributes {
  let attributes = methodAttributes.get(path);
  if (attributes === undefined) {
    const [, service = '', method = ''] = path.split('/');
    attributes = { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method };
    methodAttributes.set(path, attributes);
  }
  return attributes;
}

function end(span: Span, call: RpcCall, result: unknown, failure: CallFailure | undefined): void {
  const code = failure?.code ?? status.OK;
  span.setAttribute('rpc.grpc.status_code', code);
  if (failure === undefined) {
    if (span.isRecording()) {
      const extra = call.method.traceAttributes?.(result);
      if (extra !== undefined) span.setAttributes(extra);
    }
  } else if (SERVER_ERRORS.has(code)) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: failure.details });
  }
  span.end();
}

/**
 * A server span per call, named `service/method` with the gRPC semantic conventions' attributes,
 * parented on the caller's W3C `traceparent` metadata (Envoy forwards its own on Check) and active while
 * the rest of the pipeline runs, so a database query the call makes is its child. What the method adds
 * (key id, decision: never the key) comes from its `traceAttributes`, read only for a recorded span.
 * Left out of the pipeline when tracing is off.
 */
export function traceCalls(tracer: Tracer, propagator: TextMapPropagator): Middleware {
  return (next: Next) => (call) => {
    const parent = propagator.extract(ROOT_CONTEXT, call.grpc.metadata, METADATA_GETTER);
    const span = tracer.startSpan(
      call.method.path.slice(1),
      { kind: SpanKind.SERVER, attributes: attributesOf(call.method.path) },
      parent,
    );
    let result: unknown;
    try {
      // An unsampled call needs no active context: nothing under it is recorded, and entering one costs
      // an AsyncLocalStorage scope per call (the 1 % sampling case is mostly these).
      result = span.isRecording() ? context.with(trace.setSpan(parent, span), next, undefined, call) : next(call);
    } catch (error) {
      end(span, call, undefined, CallFailure.from(error));
      throw error;
    }
    if (!(result instanceof Promise)) {
      end(span, call, result, undefined);
      return result;
    }
    return result.then(
      (value: unknown) => {
        end(span, call, value, undefined);
        return value;
      },
      (error: unknown) => {
        end(span, call, undefined, CallFailure.from(error));
        throw error;
      },
    );
  };
}
