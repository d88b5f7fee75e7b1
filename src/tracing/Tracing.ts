import { context, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-node';
import type { Logger } from 'pino';

import type { SamplerName, TracingConfig } from '../config/tracing.js';
import type { Component } from '../lifecycle/Component.js';
import type { StopDeadline } from '../lifecycle/StopDeadline.js';

/** The instrumentation scope of every span this service makes. */
const SCOPE = 'api-key-service';

function rootSampler(name: SamplerName, ratio: number): Sampler {
  if (name.endsWith('always_on')) return new AlwaysOnSampler();
  if (name.endsWith('always_off')) return new AlwaysOffSampler();
  return new TraceIdRatioBasedSampler(ratio);
}

function sampler(name: SamplerName, ratio: number): Sampler {
  const root = rootSampler(name, ratio);
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

let contextManagerSet = false;

/**
 * OpenTelemetry traces of this process: a tracer provider of its own (not the global one, so several
 * servers in one process keep their exporters apart) exporting over OTLP/HTTP in batches, the W3C trace
 * context propagator the RPC spans are parented with, and the AsyncLocalStorage context manager that
 * carries the RPC span to the database query a cache miss makes. A component: stopping it exports what
 * is left, within the shutdown deadline.
 */
export class Tracing implements Component {
  readonly tracer: Tracer;
  readonly propagator = new W3CTraceContextPropagator();
  private readonly provider: NodeTracerProvider;

  constructor(
    config: TracingConfig,
    private readonly logger: Logger,
  ) {
    this.provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName }),
      sampler: sampler(config.sampler, config.ratio),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: config.endpoint }))],
    });
    this.tracer = this.provider.getTracer(SCOPE);
    // The context manager is process-wide by nature (there is one async context); set once.
    if (!contextManagerSet) {
      contextManagerSet = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    }
  }

  start(): void {
    this.logger.info('tracing on: spans exported over OTLP/HTTP');
  }

  /** Exports every span ended so far (tests, and the last step of a stop). */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  async stop(deadline: StopDeadline): Promise<void> {
    await deadline.bound(this.provider.shutdown());
  }
}
