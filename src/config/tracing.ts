import { bool, makeValidator, str, url } from 'envalid';

import { documented } from './documented.js';

/** The samplers of the OpenTelemetry specification's OTEL_TRACES_SAMPLER. */
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

const ratio = makeValidator<number>((input) => {
  const value = Number(input);
  if (input.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1)
    throw new Error('expected a sampling ratio from 0 to 1, e.g. 0.01');
  return value;
});

/**
 * OpenTelemetry traces, configured by the standard `OTEL_*` variables (the subset this service honours;
 * the OTLP exporter also reads `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_EXPORTER_OTLP_TIMEOUT` itself). Off
 * unless an OTLP endpoint is set.
 */
export const TRACING_SETTINGS = {
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: documented(
    url({
      default: undefined,
      desc: 'OTLP/HTTP (JSON) URL spans are exported to, e.g. `http://otel-collector:4318/v1/traces`; setting it (or `OTEL_EXPORTER_OTLP_ENDPOINT`) turns tracing on',
    }),
    '(none: tracing off)',
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: documented(
    url({
      default: undefined,
      desc: 'OTLP/HTTP base URL; spans go to its `/v1/traces` unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set',
    }),
    '(none)',
  ),
  OTEL_TRACES_SAMPLER: documented(
    str<SamplerName>({
      choices: [
        'always_on',
        'always_off',
        'traceidratio',
        'parentbased_always_on',
        'parentbased_always_off',
        'parentbased_traceidratio',
      ],
      default: 'parentbased_always_on',
      desc: "which calls are traced: `parentbased_*` follow the caller's `traceparent` sampled flag and sample calls without one as the rest of the name says; `traceidratio` uses `OTEL_TRACES_SAMPLER_ARG`",
    }),
    '`parentbased_always_on`',
  ),
  OTEL_TRACES_SAMPLER_ARG: documented(
    ratio({ default: 1, desc: 'the ratio of `traceidratio` samplers (0–1, e.g. `0.01` for 1 %)' }),
    '`1`',
  ),
  OTEL_SERVICE_NAME: documented(
    str({ default: 'api-key-service', desc: '`service.name` of the exported spans' }),
    '`api-key-service`',
  ),
  OTEL_SDK_DISABLED: documented(
    bool({ default: false, desc: '`true`: no tracing whatever the endpoint settings' }),
    '`false`',
  ),
};

/** Tracing as the configuration carries it; null = off. */
export interface TracingConfig {
  /** Where spans are POSTed (OTLP/HTTP, JSON). */
  readonly endpoint: string;
  readonly sampler: SamplerName;
  readonly ratio: number;
  readonly serviceName: string;
}

/** The section's values, from cleanEnv's result: null when no endpoint is set or the SDK is disabled. */
export function tracingConfig(raw: {
  readonly OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  readonly OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  readonly OTEL_TRACES_SAMPLER: SamplerName;
  readonly OTEL_TRACES_SAMPLER_ARG: number;
  readonly OTEL_SERVICE_NAME: string;
  readonly OTEL_SDK_DISABLED: boolean;
}): TracingConfig | null {
  const base = raw.OTEL_EXPORTER_OTLP_ENDPOINT;
  const endpoint =
    raw.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`);
  if (raw.OTEL_SDK_DISABLED || endpoint === undefined) return null;
  return Object.freeze({
    endpoint,
    sampler: raw.OTEL_TRACES_SAMPLER,
    ratio: raw.OTEL_TRACES_SAMPLER_ARG,
    serviceName: raw.OTEL_SERVICE_NAME,
  });
}
