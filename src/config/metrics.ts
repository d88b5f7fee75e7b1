import { makeValidator } from 'envalid';

import { documented } from './documented.js';
import { intRange, parseHostPort } from './validators.js';

// envalid rejects a parser result of null, so "off" is carried as a literal and mapped by metricsAddress.
const hostPortOrOff = makeValidator<{ host: string; port: number } | 'off'>((input) =>
  input === 'off' ? 'off' : parseHostPort(input),
);

/** The operator HTTP endpoints. */
export const METRICS_SETTINGS = {
  METRICS_ADDRESS: documented(
    hostPortOrOff({
      default: { host: '127.0.0.1', port: 9464 },
      desc: '`host:port` of the operator HTTP endpoints `/metrics`, `/healthz`, `/readyz`; `off` disables them',
    }),
    '`127.0.0.1:9464`',
  ),
  LIVENESS_POOL_EXHAUSTED_MS: documented(
    intRange(
      1000,
      3_600_000,
    )({
      default: 60_000,
      desc: '`/healthz` answers 503 once every pooled connection has been in use, with callers waiting and none handed a connection, for longer than this',
    }),
    '`60000`',
  ),
};

/** METRICS_ADDRESS as the configuration carries it: null = off. */
export function metricsAddress(value: { host: string; port: number } | 'off'): { host: string; port: number } | null {
  return value === 'off' ? null : value;
}
