/**
 * `node --import tsx bench/hotPathParts.ts` — the parts of a warm VerifyKey that issue 13 replaced,
 * each against what it replaced, in ns per call on this process alone (the end-to-end bench cannot
 * resolve a microsecond on a shared 2-core machine): response encoding, request decoding, RPC metrics, call durations, the client_ip read.
 * Each pair alternates over 7 rounds; the median is printed.
 */
import { Counter, Histogram, Registry } from 'prom-client';

import { VerifyKeyRequest, VerifyKeyResponse } from '../gen/apikeys/v1/api_keys.js';
import { clientAddress, readClientAddress } from '../src/domain/clientAddress.js';
import { IpAllowlist } from '../src/domain/IpAllowlist.js';
import type { Verification } from '../src/domain/KeyVerifier.js';
import { NO_METADATA, type VerifiableKey } from '../src/domain/VerifiableKey.js';
import { registerRpcMetrics, RPC_DURATION_BUCKETS } from '../src/metrics/createMetrics.js';
import { verificationToProto } from '../src/transport/convert.js';
import { decodeVerifyKeyRequest } from '../src/transport/decodeVerifyKeyRequest.js';
import { encodeVerification } from '../src/transport/encodeVerification.js';

const CALLS = Number(process.env.CALLS ?? 500_000);
let sink = 0;

function time(run: (i: number) => number): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) sink += run(i);
  return Number(process.hrtime.bigint() - started) / CALLS;
}

function compare(label: string, before: (i: number) => number, after: (i: number) => number): void {
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < 7; round++) {
    a.push(time(before));
    b.push(time(after));
  }
  const median = (values: number[]): number => values.sort((x, y) => x - y)[3] ?? NaN;
  process.stdout.write(
    `| ${label} | ${median(a).toFixed(0)} ns | ${median(b).toFixed(0)} ns | ${(median(a) / median(b)).toFixed(1)}× |\n`,
  );
}

const now = Date.now();
const key: VerifiableKey = {
  id: 'key_0123456789012345678901',
  organizationId: 'org-bench',
  name: 'bench key',
  prefix: 'tt_admin_P6jVGAam',
  scopes: ['comments:read', 'tickets:read'],
  scopeSet: new Set(['comments:read', 'tickets:read']),
  metadata: NO_METADATA,
  allowlist: new IpAllowlist(['198.51.100.0/24', '2001:db8::/32']),
  expireTime: now + 3_600_000,
  revokeTime: null,
  disableTime: null,
  disabledByUserId: null,
  createdByUserId: 'bench',
  version: 1,
};
const outcome = (i: number): Verification => ({
  valid: true,
  key,
  now: now + i,
  message: 'API key is valid and working correctly',
});
const request = Buffer.from(
  VerifyKeyRequest.encode({
    key: 'tt_admin_P6jVGAam0123456789abcdefghijklmnop',
    clientIp: '198.51.100.7',
    requiredScopes: ['tickets:read'],
  }).finish(),
);

process.stdout.write('| part | before | after | ratio |\n| --- | --- | --- | --- |\n');
compare(
  'VerifyKey response: ts-proto encode → encodeVerification',
  (i) => Buffer.from(VerifyKeyResponse.encode(verificationToProto(outcome(i))).finish()).length,
  (i) => encodeVerification(outcome(i)).length,
);
compare(
  'VerifyKey request: ts-proto decode → decodeVerifyKeyRequest',
  () => VerifyKeyRequest.decode(request).key.length,
  () => decodeVerifyKeyRequest(request).key.length,
);
const registry = new Registry();
const handled = new Counter({ name: 'a', help: 'a', labelNames: ['method', 'code'], registers: [registry] });
const duration = new Histogram({
  name: 'b',
  help: 'b',
  labelNames: ['method'],
  buckets: RPC_DURATION_BUCKETS,
  registers: [registry],
});
const method = '/apikeys.v1.KeyVerifier/VerifyKey';
const bound = new Map<string, { count: Counter.Internal; time: Histogram.Internal<string> }>();
const observeBefore = (m: string, code: string, seconds: number): void => {
  const k = `${m} ${code}`;
  let children = bound.get(k);
  if (children === undefined) {
    children = { count: handled.labels(m, code), time: duration.labels(m) };
    bound.set(k, children);
  }
  children.count.inc();
  children.time.observe(seconds);
};
const observeAfter = registerRpcMetrics([new Registry()]);
compare(
  'RPC metrics: prom-client pre-bound children → plain numbers',
  (i) => (observeBefore(method, 'OK', 0.00004 + (i % 7) * 0.00001), 1),
  (i) => (observeAfter(method, 'OK', 0.00004 + (i % 7) * 0.00001), 1),
);
compare(
  'call duration: hrtime.bigint() → performance.now()',
  () => {
    const started = process.hrtime.bigint();
    return Number(process.hrtime.bigint() - started) / 1e9;
  },
  () => {
    const started = performance.now();
    return (performance.now() - started) / 1000;
  },
);
compare(
  'client_ip: read per call → process-wide memo',
  () => readClientAddress('198.51.100.7').kind.length,
  () => clientAddress('198.51.100.7').kind.length,
);
if (sink === -1) process.stdout.write('\n');
