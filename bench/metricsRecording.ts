/**
 * `node --import tsx bench/metricsRecording.ts` — what recording one call's RPC metrics costs (the
 * observer createMetrics returns, as recordMetrics calls it per call), in ns per call, on this process
 * alone: the end-to-end bench cannot resolve a few hundred nanoseconds on a shared machine.
 */
import { Registry } from 'prom-client';

import { registerRpcMetrics } from '../src/metrics/createMetrics.js';

const CALLS = Number(process.env.CALLS ?? 2_000_000);
const registry = new Registry();
const observe = registerRpcMetrics([registry]);
const method = '/apikeys.v1.KeyVerifier/VerifyKey';
const rounds: number[] = [];
for (let round = 0; round < 7; round++) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) observe(method, 'OK', 0.00004 + (i % 7) * 0.00001);
  rounds.push(Number(process.hrtime.bigint() - started) / CALLS);
}
rounds.sort((a, b) => a - b);
process.stdout.write(
  `metrics recording: median ${rounds[3]!.toFixed(0)} ns per call (rounds ${rounds.map((r) => r.toFixed(0)).join(', ')})\n`,
);
