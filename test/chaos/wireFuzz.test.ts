/**
 * Wire-level fuzzing of a real server process: thousands of random and mutated protobuf messages sent to
 * every method over a real connection by a raw client (identity serializer), then broken gRPC framing
 * below grpc-js on raw HTTP/2. The service runs as its own process (`src/main.ts`, as `npm start` runs
 * it), so a crash shows up as an exit, and its memory is read after full garbage collections.
 *
 * Required of every call: it ends with a gRPC status, one a caller can get from bad input (OK,
 * INVALID_ARGUMENT (also for bytes that are not the message), NOT_FOUND, PERMISSION_DENIED,
 * FAILED_PRECONDITION, RESOURCE_EXHAUSTED, and INTERNAL only with grpc-js's fixed texts for broken
 * framing such as an undecompressable body); no
 * stack trace, SQL or driver text in any message; no handler failing unexpectedly ("rpc failed" in the
 * log). Required of the process: alive throughout, memory within the stated bound, and correct
 * afterwards (creates, verifies and revokes a key), then a clean exit on SIGTERM.
 *
 * FUZZ_SEED replays a run; FUZZ_FRAMES_PER_METHOD sets its size (default 1,000).
 */
import { gzipSync } from 'node:zlib';

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';

import {
  type Actor,
  CreateKeyRequest,
  DenialReason,
  GetKeyRequest,
  GetKeyUsageRequest,
  KeyOwnerFilter,
  KeyState,
  ListAuditEventsRequest,
  ListKeysRequest,
  ListScopesRequest,
  RevokeKeyRequest,
  RevokeUserKeysRequest,
  RotateKeyRequest,
  UpdateKeyRequest,
  VerifyKeyRequest,
} from '../../gen/apikeys/v1/api_keys.js';
import { CheckRequest } from '../../gen/envoy/service/auth/v3/external_auth.js';
import { CONTRACT_METHODS } from '../helpers/contractMethods.js';
import { envoyCheckRequest } from '../helpers/envoyCheck.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { createClients } from '../helpers/grpcClients.js';
import { checkHealth } from '../helpers/healthClient.js';
import { grpcFrame, RawClient, type RawOutcome, RawHttp2 } from '../helpers/rawClient.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/testDatabase.js';
import { FrameFuzzer } from './FrameFuzzer.js';
import { type ProbedService, startProbedService } from './probedService.js';

const FRAMES_PER_METHOD = Number(process.env.FUZZ_FRAMES_PER_METHOD ?? 1000);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
/** Calls in flight at once per method. */
const CONCURRENCY = 16;
/** How much the heap in use after full GCs may grow from the warmed-up baseline to the end. */
const HEAP_GROWTH_BOUND_MIB = 16;
/** Resident set size the process may never exceed when measured (after full GCs). */
const RSS_BOUND_MIB = 384;
const MIB = 1024 * 1024;
const ALLOWED = new Set([
  'OK',
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'PERMISSION_DENIED',
  'FAILED_PRECONDITION',
  'RESOURCE_EXHAUSTED',
  'INTERNAL',
]);
/** What broken framing may additionally be answered with (grpc-js's own statuses for it). */
const ALLOWED_FOR_FRAMING = new Set([...ALLOWED, 'UNIMPLEMENTED', 'OUT_OF_RANGE', 'DEADLINE_EXCEEDED']);
/** grpc-js's own INTERNAL messages for what is not a request: fixed texts, nothing from the service. */
const GENERIC_INTERNAL = /^(Failed to decompress message|Invalid grpc-timeout value "[^"]*")$/;
const LEAK = [/\n\s+at |SQLITE_[A-Z]|\bER_[A-Z]/, /knex|\bselect\b.*\bfrom\b|\binsert into\b|better-sqlite3|mysql2/i];

type MemoryUsage = NodeJS.MemoryUsage;

const startService = (databaseUrl: string): Promise<ProbedService> =>
  startProbedService({ DATABASE_URL: databaseUrl, MIGRATE_ON_START: 'true' });

/** Valid encodings of each method's request: the material the fuzzer mutates. */
function seedsFor(actor: Actor, keyId: string, secret: string, pageToken: string): Map<string, Uint8Array[]> {
  const admin = (name: string) => `/apikeys.v1.KeyAdmin/${name}`;
  const time = (seconds: number) => ({ seconds, nanos: 500_000_000 });
  const seeds: [string, Uint8Array][] = [
    [
      admin('CreateKey'),
      CreateKeyRequest.encode(
        CreateKeyRequest.fromPartial({
          actor,
          name: 'fuzz ключ 🔑',
          scopes: ['tickets:read', 'comments:write'],
          allowedIps: ['203.0.113.0/24', '2001:db8::/32'],
          expiresInHours: 24,
        }),
      ).finish(),
    ],
    [admin('GetKey'), GetKeyRequest.encode({ actor, keyId }).finish()],
    [
      admin('GetKeyUsage'),
      GetKeyUsageRequest.encode({ actor, keyId, startDay: '2026-11-01', endDay: '2026-12-01' }).finish(),
    ],
    [
      admin('ListKeys'),
      ListKeysRequest.encode({
        actor,
        owner: KeyOwnerFilter.KEY_OWNER_FILTER_ORGANIZATION,
        states: [KeyState.KEY_STATE_ACTIVE, KeyState.KEY_STATE_REVOKED],
        pageSize: 10,
        pageToken,
      }).finish(),
    ],
    [
      admin('UpdateKey'),
      UpdateKeyRequest.encode({
        metadata: {},
        actor,
        keyId,
        name: 'renamed',
        scopes: ['tickets:read'],
        allowedIps: ['10.0.0.0/8'],
        expiresInHours: 48,
        updateMask: ['name', 'scopes', 'allowed_ips', 'expires_in_hours'],
      }).finish(),
    ],
    [admin('RevokeKey'), RevokeKeyRequest.encode({ actor, keyId, reason: 'fuzz' }).finish()],
    [admin('RotateKey'), RotateKeyRequest.encode({ actor, keyId, gracePeriodHours: 1, expiresInHours: 24 }).finish()],
    [admin('RevokeUserKeys'), RevokeUserKeysRequest.encode({ actor, userId: 'bob', reason: 'fuzz' }).finish()],
    [admin('ListScopes'), ListScopesRequest.encode({ actor }).finish()],
    [
      admin('ListAuditEvents'),
      ListAuditEventsRequest.encode({
        actor,
        keyId,
        startTime: time(1_700_000_000),
        endTime: time(2_000_000_000),
        pageSize: 5,
        pageToken: '',
      }).finish(),
    ],
    [
      '/apikeys.v1.KeyVerifier/VerifyKey',
      VerifyKeyRequest.encode({ key: secret, clientIp: '203.0.113.50', requiredScopes: ['tickets:read'] }).finish(),
    ],
    [
      CHECK_PATH,
      CheckRequest.encode(
        envoyCheckRequest({
          headers: { authorization: `Bearer ${secret}`, 'x-forwarded-for': '198.51.100.7, 10.0.0.1' },
          contextExtensions: { required_scopes: 'tickets:read' },
        }),
      ).finish(),
    ],
  ];
  // Every method also starts from the empty message.
  return new Map(seeds.map(([path, bytes]) => [path, [bytes, new Uint8Array()]]));
}

/** What went wrong with an answer, if anything. */
function problemWith(outcome: { code: number; details: string }, allowed: ReadonlySet<string>): string | undefined {
  const name = status[outcome.code] ?? String(outcome.code);
  if (!allowed.has(name)) return `status ${name}`;
  if (name === 'INTERNAL' && !GENERIC_INTERNAL.test(outcome.details)) return 'INTERNAL beyond the decoder';
  if (LEAK.some((pattern) => pattern.test(outcome.details))) return 'stack, SQL or driver text in the message';
  if (outcome.details.length > 4096) return 'a message longer than 4,096 characters';
  return undefined;
}

/** Counts by method and status, and every finding with what reproduces it. */
class Tally {
  readonly counts = new Map<string, Map<string, number>>();
  readonly findings: string[] = [];
  frames = 0;

  record(method: string, outcome: { code: number; details: string }, problem: string | undefined, how: string): void {
    this.frames++;
    const byStatus = this.counts.get(method) ?? new Map<string, number>();
    const name = status[outcome.code] ?? String(outcome.code);
    byStatus.set(name, (byStatus.get(name) ?? 0) + 1);
    this.counts.set(method, byStatus);
    if (problem !== undefined && this.findings.length < 20) {
      this.findings.push(
        `${method}: ${problem} (${name} ${JSON.stringify(outcome.details.slice(0, 200))}) from ${how}`,
      );
    }
  }

  statusTotals(): string {
    const totals = new Map<string, number>();
    for (const byStatus of this.counts.values()) {
      for (const [name, count] of byStatus) totals.set(name, (totals.get(name) ?? 0) + count);
    }
    return [...totals].map(([name, count]) => `${name} ${count}`).join(', ');
  }
}

/** Sends `frames` fuzzed messages to `method`, CONCURRENCY at a time; the fuzzer's order is fixed. */
async function fuzzMethod(
  client: RawClient,
  method: string,
  seeds: readonly Uint8Array[],
  others: readonly Uint8Array[],
  fuzzer: FrameFuzzer,
  frames: number,
  tally: Tally,
): Promise<void> {
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < frames) {
      sent++;
      const frame = fuzzer.next(seeds, others);
      const outcome: RawOutcome = await client.call(method, frame.bytes, { deadline: Date.now() + 15_000 });
      const how = `${frame.mutations.join(' + ')}: ${Buffer.from(frame.bytes.subarray(0, 48)).toString('hex')}…`;
      tally.record(method, outcome, problemWith(outcome, ALLOWED), how);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** Broken gRPC framing on raw HTTP/2: what grpc-js's own client never sends. */
function framingCases(valid: Uint8Array): [string, Uint8Array, Record<string, string>][] {
  const bomb = gzipSync(Buffer.alloc(16 * MIB));
  return [
    ['a length prefix longer than the body', grpcFrame(valid, { declaredLength: valid.length + 100 }), {}],
    ['a length prefix shorter than the body', grpcFrame(valid, { declaredLength: Math.max(0, valid.length - 3) }), {}],
    ['a length prefix of 4 GiB', grpcFrame(valid, { declaredLength: 0xffffffff }), {}],
    ['half a frame header', grpcFrame(valid).subarray(0, 3), {}],
    ['no message at all', new Uint8Array(), {}],
    ['two messages', Buffer.concat([grpcFrame(valid), grpcFrame(valid)]), {}],
    ['the compressed flag without an encoding', grpcFrame(valid, { compressed: true }), {}],
    ['gzip that is not gzip', grpcFrame(valid, { compressed: true }), { 'grpc-encoding': 'gzip' }],
    ['deflate that is not deflate', grpcFrame(valid, { compressed: true }), { 'grpc-encoding': 'deflate' }],
    ['an unsupported encoding', grpcFrame(valid, { compressed: true }), { 'grpc-encoding': 'br' }],
    ['a gzip bomb of 16 MiB of zeros', grpcFrame(bomb, { compressed: true }), { 'grpc-encoding': 'gzip' }],
    ['a garbage grpc-timeout', grpcFrame(valid), { 'grpc-timeout': 'soon' }],
    ['an expired grpc-timeout', grpcFrame(valid), { 'grpc-timeout': '0n' }],
  ];
}

/** Envoy's ext_authz Check, served beside the contract. */
const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** Every method of the contract by its path, and Envoy's Check. */
const METHOD_PATHS = [
  ...Object.entries(CONTRACT_METHODS).flatMap(([service, methods]) => methods.map((method) => `/${service}/${method}`)),
  CHECK_PATH,
];

/** A reading of the service's memory after full garbage collections, named after the moment it was taken. */
interface MemoryReading {
  readonly label: string;
  readonly usage: MemoryUsage;
}

/** What fuzzing with protobuf messages did: the tally, the method being fuzzed if the server exited, readings. */
interface FuzzedMessages {
  readonly tally: Tally;
  readonly methods: number;
  readonly exitedWhileFuzzing: string | undefined;
  readonly memory: readonly MemoryReading[];
}

/** Runs `produce` the first time it is asked for, and hands every later caller the same promise. */
function once<T>(produce: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= produce());
}

/** Creates the keys and the page token the seed messages refer to, through a real client. */
async function seedMessages(address: string): Promise<Map<string, Uint8Array[]>> {
  const clients = createClients(address);
  try {
    const actor = actorOf(newOrganizationId('fuzz'), 'alice');
    const created = await clients.admin.createKey(
      CreateKeyRequest.fromPartial({ actor, name: 'target', scopes: ['tickets:read'], allowedIps: ['203.0.113.50'] }),
    );
    await clients.admin.createKey(
      CreateKeyRequest.fromPartial({ actor: { ...actor, userId: 'bob' }, name: 'bob', scopes: ['tickets:read'] }),
    );
    const page = await clients.admin.listKeys({
      actor,
      owner: KeyOwnerFilter.KEY_OWNER_FILTER_UNSPECIFIED,
      states: [],
      pageSize: 1,
      pageToken: '',
    });
    return seedsFor(actor, created.key?.id ?? '', created.secret, page.nextPageToken);
  } finally {
    clients.close();
  }
}

describeEachDatabase('wire fuzzing of a server process', (kind) => {
  let database: TestDatabase;
  let service: ProbedService;
  let raw: RawClient;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    service = await startService(database.url);
    raw = new RawClient(service.address);
  });

  afterAll(async () => {
    raw.close();
    if (service.child.exitCode === null) service.child.kill('SIGKILL');
    await database.drop();
  });

  /**
   * The storm, run once however many tests ask (and whichever runs alone): every test reads what these
   * produced rather than what an earlier test left behind.
   */
  const fuzzedMessages = once(async (): Promise<FuzzedMessages> => {
    const tally = new Tally();
    const memory: MemoryReading[] = [];
    const seeds = await seedMessages(service.address);
    const all = [...seeds.values()].flat();
    const fuzzer = new FrameFuzzer(SEED);
    const warmUp = Math.ceil(FRAMES_PER_METHOD / 10);
    for (const [phase, frames] of [
      ['after warm-up', warmUp],
      ['at the end', FRAMES_PER_METHOD - warmUp],
    ] as const) {
      for (const [method, methodSeeds] of seeds) {
        await fuzzMethod(raw, method, methodSeeds, all, fuzzer, frames, tally);
        if (service.child.exitCode !== null) return { tally, methods: seeds.size, exitedWhileFuzzing: method, memory };
      }
      memory.push({ label: phase, usage: await service.memory() });
    }
    return { tally, methods: seeds.size, exitedWhileFuzzing: undefined, memory };
  });

  /** Broken framing on raw HTTP/2, sent after the fuzzed messages; the readings go on from theirs. */
  const brokenFraming = once(async () => {
    const messages = await fuzzedMessages();
    const framing = new Tally();
    const http2 = new RawHttp2(service.address);
    const valid = ListScopesRequest.encode({ actor: actorOf('fuzz-org', 'alice') }).finish();
    try {
      for (const method of METHOD_PATHS) {
        for (const [label, body, headers] of framingCases(valid)) {
          const answer = await http2.request(method, body, headers);
          const outcome = { code: answer.grpcStatus ?? status.UNKNOWN, details: answer.grpcMessage };
          const problem = answer.reset ? 'no gRPC status (stream reset)' : problemWith(outcome, ALLOWED_FOR_FRAMING);
          framing.record(method, outcome, problem, label);
        }
      }
    } finally {
      http2.close();
    }
    const exitCode = service.child.exitCode;
    const memory = [...messages.memory, { label: 'after broken framing', usage: await service.memory() }];
    return { messages, framing, exitCode, memory };
  });

  it(`answers ${FRAMES_PER_METHOD.toLocaleString('en')} fuzzed messages per method with a status, never crashing`, async () => {
    const { tally, methods, exitedWhileFuzzing } = await fuzzedMessages();
    expect(exitedWhileFuzzing, `the server exited while fuzzing ${exitedWhileFuzzing ?? ''}`).toBeUndefined();
    expect(tally.frames).toBe(FRAMES_PER_METHOD * methods);
    expect(tally.findings).toEqual([]);
    expect(service.problems().filter((line) => line.includes('"rpc failed"'))).toEqual([]);
  });

  it('answers broken gRPC framing on raw HTTP/2 with a status, never crashing', async () => {
    const { framing, exitCode } = await brokenFraming();
    expect(exitCode).toBeNull();
    expect(framing.findings).toEqual([]);
  });

  it(`keeps the heap within ${HEAP_GROWTH_BOUND_MIB} MiB of its warmed-up size and RSS under ${RSS_BOUND_MIB} MiB`, async () => {
    const { memory } = await brokenFraming();
    const [baseline, ...later] = memory;
    expect(baseline).toBeDefined();
    for (const reading of later) {
      expect((reading.usage.heapUsed - (baseline?.usage.heapUsed ?? 0)) / MIB, reading.label).toBeLessThan(
        HEAP_GROWTH_BOUND_MIB,
      );
    }
    for (const reading of memory) expect(reading.usage.rss / MIB, reading.label).toBeLessThan(RSS_BOUND_MIB);
  });

  it('still serves correctly afterwards: health, create, verify, revoke', async () => {
    await brokenFraming();
    expect(await checkHealth(service.address)).toBe('SERVING');
    const clients = createClients(service.address, { ownConnection: true });
    try {
      const actor = actorOf(newOrganizationId('after'), 'alice');
      const created = await clients.admin.createKey(
        CreateKeyRequest.fromPartial({ actor, name: 'after the storm', scopes: ['tickets:read'] }),
      );
      const verify = () =>
        clients.verifier.verifyKey({ key: created.secret, clientIp: '198.51.100.7', requiredScopes: ['tickets:read'] });
      expect((await verify()).valid).toBe(true);
      await clients.admin.revokeKey({ actor, keyId: created.key?.id ?? '', reason: 'done' });
      expect((await verify()).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
      expect((await clients.admin.listScopes({ actor })).scopes).toHaveLength(21);
    } finally {
      clients.close();
    }
  });

  it('exits 0 on SIGTERM, and reports the run', async () => {
    const { messages, framing, memory } = await brokenFraming();
    const { tally } = messages;
    expect(await service.stop()).toBe(0);
    const mib = (bytes: number) => (bytes / MIB).toFixed(1);
    const readings = memory.map(({ label, usage }) => `${label} ${mib(usage.heapUsed)}/${mib(usage.rss)}`).join(', ');
    process.stdout.write(
      `\nwire fuzz [${kind}] seed ${SEED}: ${tally.frames.toLocaleString('en')} protobuf frames ` +
        `(${FRAMES_PER_METHOD.toLocaleString('en')} per method × ${tally.counts.size} methods) — ${tally.statusTotals()}; ` +
        `${framing.frames} broken HTTP/2 framings — ${framing.statusTotals()}; ` +
        `memory after full GC, heapUsed/RSS MiB: ${readings} ` +
        `(bounds: heap +${HEAP_GROWTH_BOUND_MIB} MiB over the warmed-up baseline, RSS < ${RSS_BOUND_MIB} MiB); ` +
        `no crash, no finding, correct afterwards\n`,
    );
  });
});
