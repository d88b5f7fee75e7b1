/**
 * Memory of the key cache, in a process of its own (run by bench/verify.ts with --expose-gc): fills a
 * KeyCache with `count` keys (2 scopes, a 2-entry IPv4+IPv6 allowlist, as the bench seeds them) from an
 * in-memory repository, verifies each once through KeyVerifier and the VerifyKey response encoding (so
 * whatever the hot path keeps per key is counted too), and prints one JSON line: heap and array-buffer
 * bytes per key after GC (the keys' hashes are held by the test array and not counted) and the RSS.
 */
import { newId } from '../src/domain/admin/newId.js';
import { KeyCache } from '../src/domain/KeyCache.js';
import { KeyVerifier } from '../src/domain/KeyVerifier.js';
import { generateSecret } from '../src/domain/keyFormat.js';
import { ScopeCatalog } from '../src/domain/ScopeCatalog.js';
import type { ApiKeyRecord } from '../src/domain/types.js';
import { encodeVerification } from '../src/transport/encodeVerification.js';

const count = Number(process.argv[2] ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const HOUR = 3_600_000;
const now = Date.now();

function record(hash: Buffer, prefix: string): ApiKeyRecord {
  return {
    id: newId('key'),
    organizationId: 'org-bench',
    name: 'bench key',
    prefix,
    secretHash: hash,
    scopes: ['comments:read', 'tickets:read'],
    allowedIps: ['198.51.100.0/24', '2001:db8::/32'],
    metadata: {},
    createdByUserId: 'bench',
    createdByRole: 'admin',
    createTime: now,
    expireTime: now + 8760 * HOUR,
    updateTime: now,
    revokeTime: null,
    revokedByUserId: null,
    revokeReason: null,
    disableTime: null,
    disabledByUserId: null,
    lastUsedTime: null,
    lastUsedIp: null,
    rotatedFromKeyId: null,
    replacedByKeyId: null,
    version: 1,
  };
}

// Real secrets, so each key is verified the way a call verifies it; generated before the baseline.
const secrets = Array.from({ length: count }, () => generateSecret('admin'));
const byHash = new Map(secrets.map((s) => [s.hash.toString('hex'), s]));
const repository = {
  findByHash: (hash: Buffer) => {
    const found = byHash.get(hash.toString('hex'));
    return Promise.resolve(found === undefined ? null : record(found.hash, found.prefix));
  },
};
const scopes = ScopeCatalog.default();
gc();
gc();
const before = process.memoryUsage();
const cache = new KeyCache({ repository, maxKeys: count, negativeTtlMs: 1000, maxAgeMs: 3_600_000 });
const verifier = new KeyVerifier({ cache, scopes, clock: { now: () => Date.now() } });
for (const { secret } of secrets) {
  const outcome = await verifier.verify({ key: secret, clientIp: '198.51.100.7', requiredScopes: ['tickets:read'] });
  if (!outcome.valid) throw new Error(`a key did not verify: ${outcome.message}`);
  encodeVerification(outcome);
}
// Twice more, warm: what a warm call keeps per key exists by now.
for (let round = 0; round < 2; round++) {
  for (const { secret } of secrets) {
    const outcome = verifier.verify({ key: secret, clientIp: '198.51.100.7', requiredScopes: ['tickets:read'] });
    if (outcome instanceof Promise || !outcome.valid) throw new Error('a warm key did not verify from memory');
    encodeVerification(outcome);
  }
}
gc();
gc();
const after = process.memoryUsage();
if (cache.size !== count) throw new Error('cache did not keep every key');
process.stdout.write(
  `${JSON.stringify({
    keys: count,
    heapBytesPerKey: (after.heapUsed - before.heapUsed) / count,
    arrayBufferBytesPerKey: (after.arrayBuffers - before.arrayBuffers) / count,
    rssMb: after.rss / 1024 / 1024,
  })}\n`,
);
