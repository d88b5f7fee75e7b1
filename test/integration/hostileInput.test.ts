/**
 * The hostile-input catalogue: every RPC walked through every bad-input case that applies to it, through
 * the real server over a real socket, with a raw client (identity serializer) so the bytes on the wire are
 * exactly what a broken or hostile caller sends: invalid UTF-8, control characters and NUL bytes, SQL
 * metacharacters, 60,000-character and 1 MiB strings, 10,000-entry lists, unknown enum values, numbers at
 * the int32 limits, tampered page tokens, keys of every wrong shape, messages above the size limit,
 * deadlines that have already passed.
 *
 * Every case asserts the exact status, a message that names the field or the limit and stays short
 * whatever the size of the input, and that nothing was stored: the row counts of api_keys, audit_events
 * and key_feed and the newest update_time of api_keys are unchanged (a write of any kind moves one of
 * them). A VerifyKey with a bad key is not an error: it is answered DENIAL_REASON_MALFORMED. Bytes that
 * are not the request message at all never reach a handler: they are answered INVALID_ARGUMENT naming
 * the expected message type and the decoder's complaint (grpc-js alone would say INTERNAL).
 *
 * The walk is generated: the generic cases (size, framing, deadline, actor) apply to every RPC, the field
 * cases to every text, list, number, enum, timestamp and token field of each RPC. Envoy's Check has its own
 * walk (its bad values go into headers, the downstream address and the route's context extensions, and a
 * refusal is an answer: the HTTP denial Envoy sends to the client).
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

import { status } from '@grpc/grpc-js';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  type Actor,
  CreateKeyRequest,
  DenialReason,
  GetKeyRequest,
  GetKeyUsageRequest,
  KeyOwnerFilter,
  ListAuditEventsRequest,
  ListKeysRequest,
  ListScopesRequest,
  ReportLeakedKeysRequest,
  RevokeKeyRequest,
  RevokeUserKeysRequest,
  Role,
  RotateKeyRequest,
  UpdateKeyRequest,
  VerifyKeyRequest,
  VerifyKeyResponse,
} from '../../gen/apikeys/v1/api_keys.js';
import { CheckResponse } from '../../gen/envoy/service/auth/v3/external_auth.js';
import { toBase62 } from '../../src/domain/randomBase62.js';
import { codePointLength } from '../../src/domain/validation.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { encodeFields, grpcFrame, RawClient, type RawField, RawHttp2 } from '../helpers/rawClient.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import type { DatabaseKind } from '../helpers/testDatabase.js';

const DEFAULT_LIMIT = 64 * 1024;
const RAISED_LIMIT = 8 * 1024 * 1024;
/** Longest error message any case may produce, unless the case says otherwise. */
const MAX_DETAILS = 1024;
const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);
const MIB = 1024 * 1024;

type StatusName = keyof typeof status;
type RpcName =
  | 'CreateKey'
  | 'GetKey'
  | 'GetKeyUsage'
  | 'ListKeys'
  | 'UpdateKey'
  | 'RevokeKey'
  | 'RotateKey'
  | 'RevokeUserKeys'
  | 'ListScopes'
  | 'ListAuditEvents'
  | 'ReportLeakedKeys'
  | 'VerifyKey';

/** What a case must end with. */
type Expected =
  | { readonly code: Exclude<StatusName, 'OK'>; readonly message: RegExp; readonly maxLength?: number }
  | { readonly code: 'OK'; readonly denial: DenialReason; readonly message: RegExp };

/** What the requests of one environment refer to. */
interface Context {
  readonly actor: Actor;
  /** An active key of `actor`'s organization with an allowlist (203.0.113.50) and `tickets:read`. */
  readonly target: Target;
  /** next_page_token of ListKeys / ListAuditEvents (page size 1) in this organization and another one. */
  readonly keysToken: string;
  readonly auditToken: string;
  readonly otherKeysToken: string;
  readonly otherAuditToken: string;
}

/** The key (and its creator) a request acts on. */
interface Target {
  readonly keyId: string;
  readonly secret: string;
  readonly userId: string;
}

type Fields = Record<string, unknown>;

/** A bad value for a text field; `bytes` for what no JS string can be (invalid UTF-8). */
interface BadText {
  readonly label: string;
  readonly text?: string;
  readonly bytes?: readonly number[];
}

/** One text field of an RPC: where its bytes go on the wire, and what a bad value there must produce. */
interface TextField {
  readonly field: string;
  place(bytes: Uint8Array, context: Context): RawField[];
  judge(bad: BadText): Expected | undefined;
}

/** One RPC: a valid request (never sent as it is: every case breaks one thing) and its text fields. */
interface Rpc {
  readonly name: RpcName;
  readonly path: string;
  /** Whether a valid call writes (so an expired-deadline call that still runs stores something). */
  readonly writes: boolean;
  request(context: Context, target: Target): Fields;
  encode(fields: Fields): Uint8Array;
  readonly texts: readonly TextField[];
}

/** One generated test. */
interface Case {
  readonly rpc: Rpc;
  readonly title: string;
  readonly expected: Expected;
  body(context: Context, target: Target): Uint8Array;
  /** Sent to the server with MAX_RECEIVE_MESSAGE_BYTES raised to 8 MiB. */
  readonly raisedLimit?: boolean;
  /**
   * Sent with a deadline that has passed, against a key made for this case: by grpc-js with a deadline one
   * second in the past (`client`), or on raw HTTP/2 with `grpc-timeout: 0n` (`wire`: it surely arrives).
   */
  readonly expiredDeadline?: 'client' | 'wire';
}

// ---------------------------------------------------------------------------------------------- values

const A = (length: number): string => 'a'.repeat(length);

const BAD_TEXTS: readonly BadText[] = [
  { label: 'an empty string', text: '' },
  { label: 'only whitespace', text: ' \u3000 ' },
  { label: 'a NUL byte', text: 'ab\u0000cd' },
  { label: 'only NUL bytes', text: '\u0000\u0000\u0000' },
  { label: 'a newline followed by a forged log line', text: 'ab\n{"level":60,"msg":"forged"}' },
  { label: 'a tab', text: 'ab\tcd' },
  { label: 'a terminal escape sequence', text: 'ab\u001b[31mred\u001b[0m' },
  { label: 'DEL', text: 'ab\u007fcd' },
  { label: 'a C1 control character', text: 'ab\u0085cd' },
  { label: 'a bidirectional override', text: 'invoice\u202Efdp.exe' },
  { label: 'a replacement character', text: 'ab\uFFFDcd' },
  { label: 'SQL metacharacters', text: "'; DROP TABLE api_keys; --" },
  { label: 'a SQL comment and quote', text: "x' OR '1'='1' /*" },
  { label: 'a path traversal', text: '../../etc/passwd' },
  { label: 'invalid UTF-8 bytes', bytes: [0x61, 0xff, 0xfe, 0x62] },
  { label: 'an overlong UTF-8 encoding', bytes: [0x61, 0xc0, 0xaf, 0x62] },
  { label: 'a UTF-8-encoded surrogate', bytes: [0x61, 0xed, 0xa0, 0x80, 0x62] },
  { label: 'a truncated UTF-8 sequence', bytes: [0x61, 0x62, 0xe2, 0x82] },
  { label: 'a 4-byte emoji', text: 'key\u{1F511}' },
  { label: '65 characters', text: A(65) },
  { label: '101 characters', text: A(101) },
  { label: '501 characters', text: A(501) },
  { label: '60,000 characters', text: A(60_000) },
];
/** Under the raised size limit only. */
const HUGE_TEXT: BadText = { label: '1 MiB of text', text: A(MIB) };

function bytesOf(bad: BadText): Uint8Array {
  return bad.bytes !== undefined ? Uint8Array.from(bad.bytes) : Buffer.from(bad.text ?? '', 'utf8');
}

const CONTROL = /[\p{Cc}\u202A-\u202E\u2066-\u2069\uFFFD]/u;
function hasControl(bad: BadText): boolean {
  return CONTROL.test(new TextDecoder().decode(bytesOf(bad)));
}
function isBlank(bad: BadText): boolean {
  return new TextDecoder().decode(bytesOf(bad)).trim() === '';
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const invalid = (message: RegExp, maxLength?: number): Expected => ({
  code: 'INVALID_ARGUMENT',
  message,
  ...(maxLength !== undefined ? { maxLength } : {}),
});

// ---------------------------------------------------------------------------------------------- judges

function judgeIdentifier(field: string, emptyAllowed = false): (bad: BadText) => Expected | undefined {
  return (bad) => {
    const decoded = new TextDecoder().decode(bytesOf(bad));
    if (decoded === '') return emptyAllowed ? undefined : invalid(new RegExp(`^${escape(field)} is required$`));
    if (/^[A-Za-z0-9._-]{1,64}$/.test(decoded)) return undefined;
    return invalid(new RegExp(`^${escape(field)} must be 1–64 characters of letters, digits, "\\.", "_" or "-"$`));
  };
}

/** A UTC day `YYYY-MM-DD`; empty means the default. */
function judgeDay(field: string): (bad: BadText) => Expected | undefined {
  return (bad) => {
    if (bytesOf(bad).length === 0) return undefined;
    return invalid(
      new RegExp(`^${escape(field)} must be a UTC date written YYYY-MM-DD \\(e\\.g\\. 2026-12-03\\), got "`),
    );
  };
}

function judgeName(bad: BadText): Expected | undefined {
  if (isBlank(bad)) return invalid(/^name is required \(1–100 characters\)$/);
  const length = codePointLength(new TextDecoder().decode(bytesOf(bad)).trim());
  if (length > 100) return invalid(new RegExp(`^name must be at most 100 characters, got ${length}$`));
  if (hasControl(bad)) {
    return invalid(/^name must not contain control characters, bidirectional overrides or invalid UTF-8$/);
  }
  return undefined;
}

function judgeReason(bad: BadText): Expected | undefined {
  if (isBlank(bad)) return undefined;
  const length = codePointLength(new TextDecoder().decode(bytesOf(bad)).trim());
  if (length > 500) return invalid(new RegExp(`^reason must be at most 500 characters, got ${length}$`));
  if (hasControl(bad)) return invalid(/^reason must not contain control characters or invalid UTF-8$/);
  return undefined;
}

/** A leak location in the second candidate (the valid request's own comes first). */
function judgeLeakLocation(bad: BadText): Expected | undefined {
  if (isBlank(bad)) return undefined;
  const length = codePointLength(new TextDecoder().decode(bytesOf(bad)).trim());
  if (length > 400)
    return invalid(new RegExp(`^candidates\\[1\\]\\.location must be at most 400 characters, got ${length}$`));
  if (hasControl(bad))
    return invalid(/^candidates\[1\]\.location must not contain control characters or invalid UTF-8$/);
  return undefined;
}

function judgePageToken(bad: BadText): Expected | undefined {
  if (bytesOf(bad).length === 0) return undefined;
  return invalid(/^page_token is invalid: pass the next_page_token of a previous response unchanged/);
}

function judgeScope(field: string): (bad: BadText) => Expected {
  return () => invalid(new RegExp(`^Invalid scope in ${field}: "`), 2048);
}

function judgeIpEntry(): Expected {
  return invalid(/^allowed_ips: ".*" is not an IPv4\/IPv6 address or CIDR range/s);
}

function judgeMaskPath(): Expected {
  return invalid(
    /^update_mask has unknown path ".*"; updatable: name, scopes, allowed_ips, expires_in_hours, enabled, metadata$/s,
  );
}

const MALFORMED: Expected = {
  code: 'OK',
  denial: DenialReason.DENIAL_REASON_MALFORMED,
  message: /^not a TopTickets API key: expected "tt_<label>_…" as issued; check for copy\/paste errors$/,
};

function judgeClientIp(bad: BadText): Expected {
  return {
    code: 'OK',
    denial: DenialReason.DENIAL_REASON_IP_NOT_ALLOWED,
    message: isBlank(bad)
      ? /has an IP allowlist but the request carried no client IP$/
      : /has an IP allowlist and the client IP ".*" is not a valid IP address$/s,
  };
}

// ---------------------------------------------------------------------------------------------- RPCs

/** The actor field with one text subfield replaced by raw bytes. */
function actorWith(subfield: 1 | 2, bytes: Uint8Array, context: Context): RawField[] {
  return [
    [
      1,
      [
        [1, subfield === 1 ? bytes : context.actor.organizationId],
        [2, subfield === 2 ? bytes : context.actor.userId],
        [3, Role.ROLE_ADMIN],
      ],
    ],
  ];
}

const ACTOR_TEXTS: readonly TextField[] = [
  {
    field: 'actor.organization_id',
    place: (bytes, context) => actorWith(1, bytes, context),
    judge: judgeIdentifier('actor.organization_id'),
  },
  {
    field: 'actor.user_id',
    place: (bytes, context) => actorWith(2, bytes, context),
    judge: judgeIdentifier('actor.user_id'),
  },
];

const at =
  (field: number) =>
  (bytes: Uint8Array): RawField[] => [[field, bytes]];

function adminRpc(
  name: Exclude<RpcName, 'VerifyKey'>,
  writes: boolean,
  request: (context: Context, target: Target) => Fields,
  encode: (fields: Fields) => Uint8Array,
  texts: readonly TextField[],
): Rpc {
  return {
    name,
    path: `/apikeys.v1.KeyAdmin/${name}`,
    writes,
    request,
    encode,
    texts: [...ACTOR_TEXTS, ...texts],
  };
}

const CREATE_KEY = adminRpc(
  'CreateKey',
  true,
  ({ actor }) => ({ actor, name: 'catalogue', scopes: ['tickets:read'], allowedIps: ['203.0.113.50'] }),
  (fields) => CreateKeyRequest.encode(CreateKeyRequest.fromPartial(fields as unknown as CreateKeyRequest)).finish(),
  [
    { field: 'name', place: at(2), judge: judgeName },
    { field: 'scopes[]', place: at(3), judge: judgeScope('scopes') },
    { field: 'allowed_ips[]', place: at(4), judge: judgeIpEntry },
  ],
);
const GET_KEY = adminRpc(
  'GetKey',
  false,
  ({ actor }, { keyId }) => ({ actor, keyId }),
  (fields) => GetKeyRequest.encode(GetKeyRequest.fromPartial(fields as unknown as GetKeyRequest)).finish(),
  [{ field: 'key_id', place: at(2), judge: judgeIdentifier('key_id') }],
);
const GET_KEY_USAGE = adminRpc(
  'GetKeyUsage',
  false,
  ({ actor }, { keyId }) => ({ actor, keyId, startDay: '', endDay: '' }),
  (fields) =>
    GetKeyUsageRequest.encode(GetKeyUsageRequest.fromPartial(fields as unknown as GetKeyUsageRequest)).finish(),
  [
    { field: 'key_id', place: at(2), judge: judgeIdentifier('key_id') },
    { field: 'start_day', place: at(3), judge: judgeDay('start_day') },
    { field: 'end_day', place: at(4), judge: judgeDay('end_day') },
  ],
);
const LIST_KEYS = adminRpc(
  'ListKeys',
  false,
  ({ actor }) => ({ actor, owner: 2, states: [], pageSize: 1, pageToken: '' }),
  (fields) => ListKeysRequest.encode(ListKeysRequest.fromPartial(fields as unknown as ListKeysRequest)).finish(),
  [{ field: 'page_token', place: at(5), judge: judgePageToken }],
);
const UPDATE_KEY = adminRpc(
  'UpdateKey',
  true,
  ({ actor }, { keyId }) => ({
    actor,
    keyId,
    name: 'renamed',
    scopes: ['tickets:read', 'tickets:write'],
    allowedIps: ['203.0.113.50'],
    updateMask: ['name', 'scopes', 'allowed_ips'],
  }),
  (fields) => UpdateKeyRequest.encode(UpdateKeyRequest.fromPartial(fields as unknown as UpdateKeyRequest)).finish(),
  [
    { field: 'key_id', place: at(2), judge: judgeIdentifier('key_id') },
    { field: 'name', place: at(3), judge: judgeName },
    { field: 'scopes[]', place: at(4), judge: judgeScope('scopes') },
    { field: 'allowed_ips[]', place: at(5), judge: judgeIpEntry },
    {
      field: 'update_mask.paths[]',
      place: (bytes) => [
        [
          7,
          [
            [1, 'name'],
            [1, bytes],
          ],
        ],
      ],
      judge: judgeMaskPath,
    },
  ],
);
const REVOKE_KEY = adminRpc(
  'RevokeKey',
  true,
  ({ actor }, { keyId }) => ({ actor, keyId, reason: 'catalogue' }),
  (fields) => RevokeKeyRequest.encode(RevokeKeyRequest.fromPartial(fields as unknown as RevokeKeyRequest)).finish(),
  [
    { field: 'key_id', place: at(2), judge: judgeIdentifier('key_id') },
    { field: 'reason', place: at(3), judge: judgeReason },
  ],
);
const ROTATE_KEY = adminRpc(
  'RotateKey',
  true,
  ({ actor }, { keyId }) => ({ actor, keyId, gracePeriodHours: 1 }),
  (fields) => RotateKeyRequest.encode(RotateKeyRequest.fromPartial(fields as unknown as RotateKeyRequest)).finish(),
  [{ field: 'key_id', place: at(2), judge: judgeIdentifier('key_id') }],
);
const REVOKE_USER_KEYS = adminRpc(
  'RevokeUserKeys',
  true,
  ({ actor }, { userId }) => ({ actor, userId, reason: 'catalogue' }),
  (fields) =>
    RevokeUserKeysRequest.encode(
      RevokeUserKeysRequest.fromPartial(fields as unknown as RevokeUserKeysRequest),
    ).finish(),
  [
    { field: 'user_id', place: at(2), judge: judgeIdentifier('user_id') },
    { field: 'reason', place: at(3), judge: judgeReason },
  ],
);
const LIST_SCOPES = adminRpc(
  'ListScopes',
  false,
  ({ actor }) => ({ actor }),
  (fields) =>
    ListScopesRequest.encode(ListScopesRequest.fromPartial({ actor: fields.actor as Actor | undefined })).finish(),
  [],
);
const LIST_AUDIT_EVENTS = adminRpc(
  'ListAuditEvents',
  false,
  ({ actor }) => ({ actor, keyId: '', pageSize: 1, pageToken: '' }),
  (fields) =>
    ListAuditEventsRequest.encode(
      ListAuditEventsRequest.fromPartial(fields as unknown as ListAuditEventsRequest),
    ).finish(),
  [
    { field: 'key_id', place: at(2), judge: judgeIdentifier('key_id', true) },
    { field: 'page_token', place: at(6), judge: judgePageToken },
  ],
);
/** No actor: its callers are LEAK_REPORTER_CLIENT_IDS. The valid request would revoke the target key. */
const REPORT_LEAKED_KEYS: Rpc = {
  name: 'ReportLeakedKeys',
  path: '/apikeys.v1.KeyAdmin/ReportLeakedKeys',
  writes: true,
  request: (_context, { secret }) => ({ candidates: [{ key: secret, location: 'https://example.com/leak' }] }),
  encode: (fields) =>
    ReportLeakedKeysRequest.encode(
      ReportLeakedKeysRequest.fromPartial(fields as unknown as ReportLeakedKeysRequest),
    ).finish(),
  texts: [
    {
      field: 'candidates[].location',
      place: (bytes) => [
        [
          1,
          [
            [1, Buffer.from('not a key')],
            [2, bytes],
          ],
        ],
      ],
      judge: judgeLeakLocation,
    },
  ],
};
const VERIFY_KEY: Rpc = {
  name: 'VerifyKey',
  path: '/apikeys.v1.KeyVerifier/VerifyKey',
  writes: false,
  request: (_context, { secret }) => ({ key: secret, clientIp: '203.0.113.50', requiredScopes: ['tickets:read'] }),
  encode: (fields) =>
    VerifyKeyRequest.encode(VerifyKeyRequest.fromPartial(fields as unknown as VerifyKeyRequest)).finish(),
  texts: [
    { field: 'key', place: at(1), judge: () => MALFORMED },
    { field: 'client_ip', place: at(2), judge: judgeClientIp },
    { field: 'required_scopes[]', place: at(3), judge: judgeScope('required_scopes') },
  ],
};

const RPCS: readonly Rpc[] = [
  CREATE_KEY,
  GET_KEY,
  GET_KEY_USAGE,
  LIST_KEYS,
  UPDATE_KEY,
  REVOKE_KEY,
  ROTATE_KEY,
  REVOKE_USER_KEYS,
  LIST_SCOPES,
  LIST_AUDIT_EVENTS,
  REPORT_LEAKED_KEYS,
  VERIFY_KEY,
];
const ADMIN_RPCS = RPCS.filter((rpc) => rpc !== VERIFY_KEY && rpc !== REPORT_LEAKED_KEYS);

// ---------------------------------------------------------------------------------------------- cases

/** The valid request of `rpc` with `override` merged in (typed fields) and `tail` appended (raw fields). */
function requestBody(
  rpc: Rpc,
  override: (context: Context, target: Target) => Fields = () => ({}),
  tail: (context: Context, target: Target) => RawField[] = () => [],
): (context: Context, target: Target) => Uint8Array {
  return (context, target) =>
    Buffer.concat([
      rpc.encode({ ...rpc.request(context, target), ...override(context, target) }),
      encodeFields(tail(context, target)),
    ]);
}

const DESERIALIZE_ERROR: Expected = {
  code: 'INVALID_ARGUMENT',
  message: /^request is not a valid apikeys\.v1\.[A-Za-z]+Request message \([ -~]{1,120}\); check that the client/,
};
const tooLarge = (limit: number): Expected => ({
  code: 'RESOURCE_EXHAUSTED',
  message: new RegExp(`^Received message larger than max \\(\\d+ vs ${limit}\\)$`),
});

/** StartGroup tags of field 9 (unknown to every request), nested `depth` deep, never closed. */
function nestedGroups(depth: number): Uint8Array {
  return new Uint8Array(depth).fill((9 << 3) | 3);
}

function genericCases(rpc: Rpc): Case[] {
  const base = requestBody(rpc);
  const withTail = (tail: Uint8Array) => (context: Context, target: Target) =>
    Buffer.concat([base(context, target), tail]);
  const cases: Case[] = [
    {
      rpc,
      title: 'refuses a message just above the 64 KiB limit with RESOURCE_EXHAUSTED naming the limit',
      expected: tooLarge(DEFAULT_LIMIT),
      body: withTail(encodeFields([[1000, new Uint8Array(DEFAULT_LIMIT)]])),
    },
    {
      rpc,
      title: 'refuses a 1 MiB message with RESOURCE_EXHAUSTED naming the limit',
      expected: tooLarge(DEFAULT_LIMIT),
      body: withTail(encodeFields([[1000, new Uint8Array(MIB)]])),
    },
    {
      rpc,
      title: 'refuses a 16 MiB message even under the raised 8 MiB limit with RESOURCE_EXHAUSTED',
      expected: tooLarge(RAISED_LIMIT),
      body: withTail(encodeFields([[1000, new Uint8Array(16 * MIB)]])),
      raisedLimit: true,
    },
    {
      rpc,
      title: 'answers bytes that are not protobuf with INVALID_ARGUMENT naming the expected message',
      expected: DESERIALIZE_ERROR,
      body: () => new Uint8Array(16).fill(0xff),
    },
    {
      rpc,
      title: 'answers a length prefix running past the end with INVALID_ARGUMENT naming the expected message',
      expected: DESERIALIZE_ERROR,
      body: withTail(Uint8Array.from([(1 << 3) | 2, 0x7f, 0x61])),
    },
    {
      rpc,
      title: 'answers 1,000 nested groups of an unknown field with INVALID_ARGUMENT naming the expected message',
      expected: DESERIALIZE_ERROR,
      body: withTail(nestedGroups(1000)),
    },
  ];
  cases.push(
    {
      rpc,
      title: 'answers a valid call whose client deadline is already in the past with DEADLINE_EXCEEDED',
      expected: { code: 'DEADLINE_EXCEEDED', message: /^Deadline exceeded/ },
      body: base,
      expiredDeadline: 'client',
    },
    {
      rpc,
      title: 'refuses a valid call that arrives with grpc-timeout 0n with DEADLINE_EXCEEDED',
      expected: { code: 'DEADLINE_EXCEEDED', message: /^Deadline exceeded/ },
      body: base,
      expiredDeadline: 'wire',
    },
  );
  return cases;
}

function actorCases(rpc: Rpc): Case[] {
  const roleMessage = (value: number) =>
    new RegExp(
      `^actor\\.role must be ROLE_ADMIN, ROLE_READ_ONLY_ADMIN or ROLE_MEMBER, got ${value === 0 ? 'ROLE_UNSPECIFIED' : String(value)}$`,
    );
  return [
    {
      rpc,
      title: 'refuses a request without an actor with INVALID_ARGUMENT',
      expected: invalid(/^actor is required: the organization, user and role you act for$/),
      body: requestBody(rpc, () => ({ actor: undefined })),
    },
    {
      rpc,
      title: 'refuses an actor sent as a number (wrong wire type) as a missing actor',
      expected: invalid(/^actor is required/),
      body: requestBody(
        rpc,
        () => ({ actor: undefined }),
        () => [[1, 7]],
      ),
    },
    {
      rpc,
      title: 'refuses an empty actor with INVALID_ARGUMENT naming the role',
      expected: invalid(roleMessage(0)),
      body: requestBody(rpc, () => ({ actor: {} })),
    },
    ...[0, 4, 99, -1, INT32_MAX, INT32_MIN].map((role): Case => ({
      rpc,
      title: `refuses actor.role ${role} with INVALID_ARGUMENT naming the valid roles`,
      expected: invalid(roleMessage(role)),
      body: requestBody(rpc, ({ actor }) => ({ actor: { ...actor, role } })),
    })),
  ];
}

function textCases(rpc: Rpc): Case[] {
  return rpc.texts.flatMap((text) =>
    [...BAD_TEXTS, HUGE_TEXT].flatMap((bad): Case[] => {
      const expected = text.judge(bad);
      if (expected === undefined) return [];
      return [
        {
          rpc,
          title: `${describeOutcome(expected)} ${bad.label} in ${text.field}`,
          expected,
          body: requestBody(rpc, undefined, (context) => text.place(bytesOf(bad), context)),
          ...(bad === HUGE_TEXT ? { raisedLimit: true } : {}),
        },
      ];
    }),
  );
}

function describeOutcome(expected: Expected): string {
  return expected.code === 'OK'
    ? `answers ${DenialReason[expected.denial]}, not an error, for`
    : `refuses with ${expected.code}`;
}

/** A number field: every value must be refused with `message(value)`. */
function numberCases(
  rpc: Rpc,
  field: string,
  values: readonly number[],
  set: (value: number) => Fields,
  message: (value: number) => RegExp,
): Case[] {
  return values.map((value) => ({
    rpc,
    title: `refuses ${field} = ${value} with INVALID_ARGUMENT naming the range`,
    expected: invalid(message(value)),
    body: requestBody(rpc, () => set(value)),
  }));
}

const lifetimeMessage = (value: number) =>
  new RegExp(`^expires_in_hours must be between 1 and 8760 \\(one year\\), got ${value}$`);
const pageSizeMessage = (value: number) =>
  new RegExp(`^page_size must not be negative \\(0 means 50, above 100 means 100\\), got ${value}$`);
const LIFETIMES = [0, -1, 8761, INT32_MAX, INT32_MIN];
// Sizes above 100 are reduced to 100, not refused (AIP-158; keyAdmin.list and keyAdmin.audit test it).
const PAGE_SIZES = [-1, INT32_MIN];
const TEN_THOUSAND = 10_000;
const many = <T>(make: (index: number) => T, count = TEN_THOUSAND): T[] =>
  Array.from({ length: count }, (_, i) => make(i));

/** Near misses of a real key: every one must be DENIAL_REASON_MALFORMED, decided without the database. */
const KEY_SHAPES: readonly [string, (secret: string) => string | Uint8Array][] = [
  ['the key without its last character', (s) => s.slice(0, -1)],
  ['the key with one character more', (s) => `${s}A`],
  ['the key with its last checksum character changed', (s) => replaceAt(s, s.length - 1)],
  ['the key with one random character changed', (s) => replaceAt(s, 15)],
  ['the key with two adjacent random characters swapped', swapFirstDistinctPair],
  ['the key in upper case', (s) => s.toUpperCase()],
  ['the key in lower case', (s) => s.toLowerCase()],
  ['the key under the other label', (s) => s.replace('tt_admin_', 'tt_readonly_')],
  ['the key under an unknown label of the same length', (s) => s.replace('tt_admin_', 'tt_roots_')],
  ['the key with a Cyrillic homoglyph', (s) => `${s.slice(0, 12)}\u0430${s.slice(13)}`],
  ['the key with a full-width letter', (s) => `${s.slice(0, 12)}\uFF21${s.slice(13)}`],
  ['the key with a zero-width space inside', (s) => `${s.slice(0, 12)}\u200B${s.slice(12)}`],
  ['the key preceded by "Bearer "', (s) => `Bearer ${s}`],
  ['the key with a trailing newline', (s) => `${s}\n`],
  ['the key between spaces', (s) => ` ${s} `],
  ['the key with a NUL byte appended', (s) => `${s}\u0000`],
  ['the key twice', (s) => s + s],
  ['only the display prefix of the key', (s) => s.slice(0, 'tt_admin_'.length + 8)],
  ['the body of the key without its checksum', (s) => s.slice(0, -6)],
  ['the key with its checksum replaced by zeros', (s) => `${s.slice(0, -6)}000000`],
  ['the SHA-256 of the key in hex', (s) => createHash('sha256').update(s).digest('hex')],
  ['SQL metacharacters in the shape of a key', () => "tt_admin_' OR '1'='1' --0123456789"],
  ['the key with its last character replaced by an invalid UTF-8 byte', (s) => withInvalidLastByte(s)],
  ['10,000 characters', () => A(TEN_THOUSAND)],
];

function replaceAt(text: string, index: number): string {
  const current = text.charAt(index);
  return text.slice(0, index) + (current === 'Z' ? 'Y' : 'Z') + text.slice(index + 1);
}

function swapFirstDistinctPair(secret: string): string {
  for (let i = 'tt_admin_'.length; i < secret.length - 1; i++) {
    if (secret[i] !== secret[i + 1])
      return secret.slice(0, i) + secret.charAt(i + 1) + secret.charAt(i) + secret.slice(i + 2);
  }
  throw new Error('no distinct adjacent pair');
}

function withInvalidLastByte(secret: string): Uint8Array {
  return Buffer.concat([Buffer.from(secret.slice(0, -1)), Uint8Array.from([0xff])]);
}

/** A key that has the right shape and checksum but was never issued. */
function neverIssuedKey(): string {
  const body = `tt_admin_${'Q'.repeat(24)}`;
  return body + toBase62(crc32(body), 6);
}

const SCOPES_OVER_LIMIT = /^scopes: at most 64 scopes allowed, got 10000$/;
const REQUIRED_SCOPES_OVER_LIMIT = /^required_scopes: at most 64 scopes allowed, got 10000$/;
const IPS_OVER_LIMIT = /^allowed_ips: at most 50 entries allowed, got 10000$/;

/**
 * A request with a list of 10,000 entries, refused with INVALID_ARGUMENT and `message`; with `raisedLimit`
 * it is sent where the message size limit lets it through, so the list limit itself must refuse it.
 */
function overLimitCase(rpc: Rpc, title: string, message: RegExp, fields: () => Fields, raisedLimit = false): Case {
  return {
    rpc,
    title,
    expected: invalid(message),
    body: requestBody(rpc, fields),
    ...(raisedLimit ? { raisedLimit } : {}),
  };
}

/**
 * 10,000 scopes in `field`, refused by the limit of 64 both as junk and as catalog scopes sent under the
 * raised message size limit (so it is the scope limit, not the size limit, that refuses them).
 */
function scopesOverLimitCases(rpc: Rpc, field: 'scopes' | 'requiredScopes', message: RegExp): Case[] {
  const label = field === 'scopes' ? 'scopes' : 'required scopes';
  return [
    overLimitCase(rpc, `refuses 10,000 ${label} with INVALID_ARGUMENT naming the limit of 64`, message, () => ({
      [field]: many(() => 'a'),
    })),
    overLimitCase(
      rpc,
      `refuses 10,000 catalog ${label} (under the raised limit) with INVALID_ARGUMENT naming the limit of 64`,
      message,
      () => ({ [field]: many(() => 'tickets:read') }),
      true,
    ),
  ];
}

/** Metadata too large in every dimension, refused with INVALID_ARGUMENT in a bounded message. */
function metadataCases(rpc: Rpc, mask: Fields): Case[] {
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      '10,000 metadata entries',
      Object.fromEntries(many((i) => [`k${i}`, 'v'])),
      /^metadata: at most 20 entries allowed, got 10000$/,
    ],
    [
      'a 60,000-character metadata name',
      { ['a'.repeat(60_000)]: 'v' },
      /^metadata: name "a{64}" must be 1–64 characters of a-z/,
    ],
    [
      'a metadata name with SQL metacharacters',
      { "x'; DROP TABLE api_keys; --": 'v' },
      /^metadata: name "x'; DROP TABLE api_keys; --" must be/,
    ],
    [
      'a 60,000-character metadata value',
      { team: 'x'.repeat(60_000) },
      /^metadata\.team: value must be at most 512 characters, got 60000$/,
    ],
    [
      'a metadata value with a NUL byte',
      { team: 'a\u0000b' },
      /^metadata\.team: value must not contain control characters/,
    ],
    [
      'metadata of 4,500 bytes in all',
      Object.fromEntries(many((i) => [`k${i}`, 'x'.repeat(500)], 9)),
      /^metadata: at most 4096 bytes of names and values in all, got 4518$/,
    ],
  ];
  return cases.map(([label, metadata, message]) => ({
    rpc,
    title: `refuses ${label} with INVALID_ARGUMENT naming the limit`,
    expected: invalid(message),
    body: requestBody(rpc, () => ({ ...mask, metadata })),
    // 10,000 entries are larger than the default message limit, which would refuse them first.
    ...(Object.keys(metadata).length > 1000 ? { raisedLimit: true } : {}),
  }));
}

function fieldCases(rpc: Rpc): Case[] {
  switch (rpc.name) {
    case 'CreateKey':
      return [
        ...metadataCases(rpc, {}),
        ...numberCases(rpc, 'expires_in_hours', LIFETIMES, (v) => ({ expiresInHours: v }), lifetimeMessage),
        ...scopesOverLimitCases(rpc, 'scopes', SCOPES_OVER_LIMIT),
        {
          rpc,
          title: 'refuses no scopes with INVALID_ARGUMENT',
          expected: invalid(/^scopes: at least one scope is required; valid scopes: /),
          body: requestBody(rpc, () => ({ scopes: [] })),
        },
        {
          rpc,
          title: 'names 64 distinct unknown scopes of 60 CJK characters in a bounded message',
          expected: invalid(/^Invalid scopes in scopes: "/, 8192),
          body: requestBody(rpc, () => ({
            scopes: many((i) => `${String(i).padStart(2, '0')}${'鍵'.repeat(58)}`, 64),
          })),
        },
        overLimitCase(
          rpc,
          'refuses 10,000 allowed IPs with INVALID_ARGUMENT naming the limit of 50',
          IPS_OVER_LIMIT,
          () => ({ allowedIps: many(() => '::') }),
        ),
        overLimitCase(
          rpc,
          'refuses 10,000 real IPv4 addresses (under the raised limit) with INVALID_ARGUMENT naming the limit',
          IPS_OVER_LIMIT,
          () => ({ allowedIps: many((i) => `10.0.${i >> 8}.${i & 255}`) }),
          true,
        ),
        {
          rpc,
          title: 'quotes a CIDR padded with 40,000 spaces trimmed, in a bounded message',
          expected: invalid(/^allowed_ips: "10\.0\.0\.1\/8" has host bits set; did you mean 10\.0\.0\.0\/8/),
          body: requestBody(rpc, () => ({ allowedIps: [`${' '.repeat(40_000)}10.0.0.1/8`] })),
        },
        {
          rpc,
          title: 'quotes a CIDR with 40,000 spaces before its prefix cut short, in a bounded message',
          expected: invalid(/^allowed_ips: "10\.0\.0\.0 +" has a prefix longer than \/32$/),
          body: requestBody(rpc, () => ({ allowedIps: [`10.0.0.0${' '.repeat(40_000)}/33`] })),
        },
      ];
    case 'ListKeys':
      return [
        ...timestampCases(rpc, [
          ['unused_since', 6],
          ['expire_before', 7],
        ]),
        ...numberCases(rpc, 'page_size', PAGE_SIZES, (v) => ({ pageSize: v }), pageSizeMessage),
        ...[3, 99, -1, INT32_MAX].map((owner): Case => ({
          rpc,
          title: `refuses owner = ${owner} with INVALID_ARGUMENT naming the enum`,
          expected: invalid(new RegExp(`^owner: ${owner} is not a valid KeyOwnerFilter$`)),
          body: requestBody(rpc, () => ({ owner })),
        })),
        ...[[99], [-1], [0], [1, 99], many(() => 99)].map((states): Case => ({
          rpc,
          title: `refuses states = [${states.length > 2 ? '99 × 10,000' : states.join(', ')}] with INVALID_ARGUMENT naming the value`,
          expected: invalid(new RegExp(`^states: ${states.find((s) => s < 1 || s > 3)} is not a valid KeyState$`)),
          body: requestBody(rpc, () => ({ states })),
        })),
        ...tokenCases(
          rpc,
          (context) => context.keysToken,
          (context) => context.otherKeysToken,
          (context) => context.auditToken,
        ),
        {
          rpc,
          title: 'refuses a genuine page token reused with another owner filter',
          expected: invalid(/^page_token is invalid/),
          body: requestBody(rpc, (context) => ({
            pageToken: context.keysToken,
            owner: KeyOwnerFilter.KEY_OWNER_FILTER_MINE,
          })),
        },
        {
          rpc,
          title: 'refuses a genuine page token reused with a state filter',
          expected: invalid(/^page_token is invalid/),
          body: requestBody(rpc, (context) => ({ pageToken: context.keysToken, states: [1] })),
        },
      ];
    case 'UpdateKey':
      return [
        ...metadataCases(rpc, { updateMask: ['metadata'] }),
        ...numberCases(
          rpc,
          'expires_in_hours',
          LIFETIMES,
          (v) => ({ expiresInHours: v, updateMask: ['expires_in_hours'] }),
          lifetimeMessage,
        ),
        {
          rpc,
          title: 'refuses an empty update_mask with INVALID_ARGUMENT naming the updatable fields',
          expected: invalid(
            /^update_mask is required: list the fields to change \(name, scopes, allowed_ips, expires_in_hours, enabled, metadata\)$/,
          ),
          body: requestBody(rpc, () => ({ updateMask: [] })),
        },
        {
          rpc,
          title: 'names at most five of 10,000 unknown update_mask paths',
          expected: invalid(/^update_mask has unknown paths "0", "1", "2", "3", "4" and 9995 more; updatable: /),
          body: requestBody(rpc, () => ({ updateMask: many((i) => i.toString(36)) })),
        },
        overLimitCase(
          rpc,
          'refuses 10,000 scopes with INVALID_ARGUMENT naming the limit of 64',
          SCOPES_OVER_LIMIT,
          () => ({ scopes: many(() => 'a') }),
        ),
        {
          rpc,
          title: 'refuses no scopes when scopes is in the mask with INVALID_ARGUMENT',
          expected: invalid(/^scopes: at least one scope is required/),
          body: requestBody(rpc, () => ({ scopes: [] })),
        },
        overLimitCase(
          rpc,
          'refuses 10,000 allowed IPs with INVALID_ARGUMENT naming the limit of 50',
          IPS_OVER_LIMIT,
          () => ({ allowedIps: many(() => '::') }),
        ),
      ];
    case 'RotateKey':
      return [
        ...numberCases(
          rpc,
          'grace_period_hours',
          [-1, 169, INT32_MAX, INT32_MIN],
          (v) => ({ gracePeriodHours: v }),
          (v) =>
            new RegExp(`^grace_period_hours must be between 0 and 168 \\(0 revokes the old key at once\\), got ${v}$`),
        ),
        ...numberCases(rpc, 'expires_in_hours', LIFETIMES, (v) => ({ expiresInHours: v }), lifetimeMessage),
      ];
    case 'ListAuditEvents':
      return [
        ...numberCases(rpc, 'page_size', PAGE_SIZES, (v) => ({ pageSize: v }), pageSizeMessage),
        ...tokenCases(
          rpc,
          (context) => context.auditToken,
          (context) => context.otherAuditToken,
          (context) => context.keysToken,
        ),
        ...timestampCases(rpc),
      ];
    case 'VerifyKey':
      return [
        ...KEY_SHAPES.map(([label, shape]): Case => ({
          rpc,
          title: `answers DENIAL_REASON_MALFORMED, not an error, for ${label}`,
          expected: MALFORMED,
          body: requestBody(rpc, undefined, (_context, { secret }) => {
            const key = shape(secret);
            return [[1, typeof key === 'string' ? Buffer.from(key) : key]];
          }),
        })),
        {
          rpc,
          title: 'answers DENIAL_REASON_NOT_FOUND (not MALFORMED) for a well-formed key that was never issued',
          expected: {
            code: 'OK',
            denial: DenialReason.DENIAL_REASON_NOT_FOUND,
            message: /^API key not found; it may have been deleted or mistyped$/,
          },
          body: requestBody(rpc, () => ({ key: neverIssuedKey() })),
        },
        ...scopesOverLimitCases(rpc, 'requiredScopes', REQUIRED_SCOPES_OVER_LIMIT),
      ];
    case 'ReportLeakedKeys':
      return [101, TEN_THOUSAND].map((count): Case => ({
        rpc,
        title: `refuses ${count} candidates with INVALID_ARGUMENT naming the limit of 100`,
        expected: invalid(new RegExp(`^candidates: 1–100 entries required, got ${count}$`)),
        body: requestBody(rpc, () => ({ candidates: many(() => ({ key: 'x', location: '' }), count) })),
      }));
    default:
      return [];
  }
}

function tokenCases(
  rpc: Rpc,
  genuine: (context: Context) => string,
  otherOrganization: (context: Context) => string,
  otherListing: (context: Context) => string,
): Case[] {
  const tampered: readonly [string, (token: string) => string][] = [
    ['one character of its payload changed', (t) => replaceAt(t, 2)],
    ['one character of its checksum changed', (t) => replaceAt(t, t.length - 1)],
    ['its checksum removed', (t) => t.slice(0, t.indexOf('.'))],
    ['a third segment', (t) => `${t}.AAAA`],
    ['half of it', (t) => t.slice(0, t.length >> 1)],
    [
      'a forged payload with a made-up checksum',
      () => `${Buffer.from('[0,"zzz"]').toString('base64url')}.AAAAAAAAAAAAAAAAAAAAAA`,
    ],
    ['201 characters', (t) => t.padEnd(201, 'A')],
  ];
  const wrap = (label: string, token: (context: Context) => string): Case => ({
    rpc,
    title: `refuses a page token with ${label} with INVALID_ARGUMENT`,
    expected: invalid(/^page_token is invalid: pass the next_page_token of a previous response unchanged/),
    body: requestBody(rpc, (context) => ({ pageToken: token(context) })),
  });
  return [
    ...tampered.map(([label, tamper]) => wrap(label, (context) => tamper(genuine(context)))),
    wrap('from another organization', otherOrganization),
    wrap('from the other listing', otherListing),
  ];
}

function timestampCases(
  rpc: Rpc,
  fields: readonly (readonly [string, number])[] = [
    ['start_time', 3],
    ['end_time', 4],
  ],
): Case[] {
  const cases: Case[] = [];
  for (const [field, number] of fields) {
    const bad: readonly [string, RawField[]][] = [
      ['negative nanos', [[2, -1]]],
      ['nanos of a whole second', [[2, 1_000_000_000]]],
      ['seconds whose milliseconds are not a safe integer', [[1, 2n ** 50n]]],
    ];
    for (const [label, timestamp] of bad) {
      cases.push({
        rpc,
        title: `refuses ${field} with ${label} with INVALID_ARGUMENT naming the field`,
        expected: invalid(new RegExp(`^${field} is not a valid timestamp$`)),
        body: requestBody(rpc, undefined, () => [[number, timestamp]]),
      });
    }
    cases.push({
      rpc,
      title: `answers ${field} seconds beyond 2^53 (undecodable here) with INVALID_ARGUMENT naming the expected message`,
      expected: DESERIALIZE_ERROR,
      body: requestBody(rpc, undefined, () => [[number, [[1, 2n ** 62n]]]]),
    });
  }
  if (fields[0]?.[0] !== 'start_time') return cases;
  for (const [label, end] of [
    ['equal to', 1_700_000_000],
    ['before', 1_600_000_000],
  ] as const) {
    cases.push({
      rpc,
      title: `refuses end_time ${label} start_time with INVALID_ARGUMENT`,
      expected: invalid(/^end_time must be after start_time$/),
      body: requestBody(rpc, () => ({
        startTime: { seconds: 1_700_000_000, nanos: 0 },
        endTime: { seconds: end, nanos: 0 },
      })),
    });
  }
  return cases;
}

const CASES: ReadonlyMap<RpcName, readonly Case[]> = new Map(
  RPCS.map((rpc) => [
    rpc.name,
    [...genericCases(rpc), ...(ADMIN_RPCS.includes(rpc) ? actorCases(rpc) : []), ...textCases(rpc), ...fieldCases(rpc)],
  ]),
);

// ---------------------------------------------------------------------------------------------- running

/** What any write would change: row counts of the three tables and the newest key update. */
interface StoredState {
  readonly api_keys: number;
  readonly audit_events: number;
  readonly key_feed: number;
  readonly newestKeyUpdate: number;
}

async function storedState(db: Knex): Promise<StoredState> {
  const count = async (table: string): Promise<number> => {
    const row = (await db(table).count({ n: '*' }).first()) as { n: number | string };
    return Number(row.n);
  };
  const newest = (await db('api_keys').max({ t: 'update_time' }).first()) as { t: number | string | null };
  return {
    api_keys: await count('api_keys'),
    audit_events: await count('audit_events'),
    key_feed: await count('key_feed'),
    newestKeyUpdate: Number(newest.t ?? 0),
  };
}

/** A server, a raw client and the keys and tokens its requests refer to. */
interface Environment {
  readonly server: TestServer;
  readonly raw: RawClient;
  readonly http2: RawHttp2;
  readonly context: Context;
  /** A fresh key of a fresh user, for cases that might change their target. */
  freshTarget(): Promise<Target>;
}

async function setUp(kind: DatabaseKind, env: Record<string, string>): Promise<Environment> {
  const server = await startTestServer(kind, env);
  const organizationId = newOrganizationId('hostile');
  const actor = actorOf(organizationId, 'alice');
  const seed = await createTestKey(server, actor, { name: 'seed', allowedIps: ['203.0.113.50'] });
  await createTestKey(server, actor, { name: 'second' });
  const other = actorOf(newOrganizationId('other'), 'alice');
  await createTestKey(server, other);
  await createTestKey(server, other);
  const tokens = async (who: Actor) => ({
    keys: (
      await server.clients.admin.listKeys({
        actor: who,
        owner: KeyOwnerFilter.KEY_OWNER_FILTER_ORGANIZATION,
        states: [],
        pageSize: 1,
        pageToken: '',
      })
    ).nextPageToken,
    audit: (await server.clients.admin.listAuditEvents({ actor: who, keyId: '', pageSize: 1, pageToken: '' }))
      .nextPageToken,
  });
  const own = await tokens(actor);
  const foreign = await tokens(other);
  let fresh = 0;
  return {
    server,
    raw: new RawClient(server.address),
    http2: new RawHttp2(server.address),
    context: {
      actor,
      target: { keyId: seed.key.id, secret: seed.secret, userId: 'carol' },
      keysToken: own.keys,
      auditToken: own.audit,
      otherKeysToken: foreign.keys,
      otherAuditToken: foreign.audit,
    },
    async freshTarget() {
      const userId = `victim-${++fresh}`;
      const key = await createTestKey(server, actorOf(organizationId, userId), { allowedIps: ['203.0.113.50'] });
      return { keyId: key.key.id, secret: key.secret, userId };
    },
  };
}

async function runCase(environment: Environment, testCase: Case): Promise<void> {
  const { server, context } = environment;
  const target = testCase.expiredDeadline !== undefined ? await environment.freshTarget() : context.target;
  const body = testCase.body(context, target);
  const before = await storedState(server.app.db);
  const outcome = await send(environment, testCase, body);
  // A handler that ran despite the deadline would finish its write about now.
  if (testCase.expiredDeadline !== undefined) await new Promise((resolve) => setTimeout(resolve, 250));
  const { expected } = testCase;
  expect(status[outcome.code], outcome.details).toBe(expected.code);
  if (expected.code === 'OK') {
    const response = VerifyKeyResponse.decode(outcome.response ?? new Uint8Array());
    expect(response.valid).toBe(false);
    expect(DenialReason[response.denialReason]).toBe(DenialReason[expected.denial]);
    expect(response.httpStatus).toBe(expected.denial === DenialReason.DENIAL_REASON_IP_NOT_ALLOWED ? 403 : 401);
    expect(response.message).toMatch(expected.message);
    expect(response.message.length).toBeLessThanOrEqual(MAX_DETAILS);
    if (expected.denial !== DenialReason.DENIAL_REASON_IP_NOT_ALLOWED) expect(response.keyId).toBe('');
  } else {
    expect(outcome.details).toMatch(expected.message);
    expect(outcome.details.length).toBeLessThanOrEqual(expected.maxLength ?? MAX_DETAILS);
    expect(outcome.details).not.toMatch(/\n\s+at |SQLITE_[A-Z]|\bER_[A-Z]/);
    expect(outcome.details).not.toMatch(/knex|\bselect\b.*\bfrom\b|\binsert into\b/i);
  }
  expect(await storedState(server.app.db), 'nothing may be stored').toEqual(before);
}

async function send(
  environment: Environment,
  testCase: Case,
  body: Uint8Array,
): Promise<{ code: number; details: string; response?: Buffer }> {
  if (testCase.expiredDeadline === 'wire') {
    const answer = await environment.http2.request(testCase.rpc.path, grpcFrame(body), { 'grpc-timeout': '0n' });
    return { code: answer.grpcStatus ?? status.UNKNOWN, details: answer.grpcMessage };
  }
  const deadline = testCase.expiredDeadline === 'client' ? Date.now() - 1000 : Date.now() + 20_000;
  return environment.raw.call(testCase.rpc.path, body, { deadline });
}

// ------------------------------------------------------------------------------ Envoy's ext_authz Check

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** The parts of a CheckRequest as Envoy's HTTP filter builds it, each header and extension as raw bytes. */
interface CheckShape {
  readonly source?: Uint8Array;
  readonly headers?: readonly (readonly [string, Uint8Array])[];
  readonly headerMap?: readonly (readonly [string, Uint8Array])[];
  readonly extensions?: readonly (readonly [string, Uint8Array])[];
}

const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const ENVOY_HEADERS: readonly (readonly [string, Uint8Array])[] = [
  [':authority', utf8('api.toptickets.example')],
  [':method', utf8('GET')],
  [':path', utf8('/tickets/42')],
  [':scheme', utf8('https')],
  ['user-agent', utf8('curl/8.5.0')],
];
const READ_EXTENSION: readonly [string, Uint8Array] = ['required_scopes', utf8('tickets:read')];

/** A CheckRequest written field by field (the generated encoder cannot write invalid UTF-8). */
function checkBody(shape: CheckShape): Uint8Array {
  const entries = (list: readonly (readonly [string, Uint8Array])[]): RawField[] =>
    list.map(
      ([key, value]) =>
        [
          3,
          [
            [1, key],
            [2, value],
          ],
        ] as const,
    );
  const http: RawField[] = [[2, 'GET'], ...entries(shape.headers ?? ENVOY_HEADERS), [4, '/tickets/42']];
  if (shape.headerMap !== undefined)
    http.push([
      13,
      shape.headerMap.map(
        ([key, value]) =>
          [
            1,
            [
              [1, key],
              [3, value],
            ],
          ] as const,
      ),
    ]);
  const extensions = (shape.extensions ?? [READ_EXTENSION]).map(
    ([key, value]) =>
      [
        10,
        [
          [1, key],
          [2, value],
        ],
      ] as const,
  );
  const socket: RawField[] = [
    [2, shape.source ?? utf8('203.0.113.50')],
    [3, 51234],
  ];
  return encodeFields([[1, [[1, [[1, [[1, socket]]]]], [4, [[2, http]]], ...extensions]]]);
}

const withKey = (secret: string, more: readonly (readonly [string, Uint8Array])[] = []) => [
  ...ENVOY_HEADERS,
  ['authorization', utf8(`Bearer ${secret}`)] as const,
  ...more,
];

/** What a Check case must end with: a gRPC error, or a denial Envoy sends to the client. */
type CheckExpected =
  | { readonly code: Exclude<StatusName, 'OK'>; readonly message: RegExp }
  | { readonly httpStatus: 400 | 401 | 403 | 500; readonly codes: readonly string[]; readonly message: RegExp }
  | { readonly allowed: true };

interface CheckCase {
  readonly title: string;
  readonly expected: CheckExpected;
  body(target: Target): Uint8Array;
  readonly expiredDeadline?: boolean;
}

const KEY_401 = ['missing_authorization', 'invalid_authorization', 'malformed'] as const;

function checkCases(): CheckCase[] {
  const cases: CheckCase[] = [
    {
      title: 'refuses a message just above the 64 KiB limit with RESOURCE_EXHAUSTED naming the limit',
      expected: { code: 'RESOURCE_EXHAUSTED', message: tooLarge(DEFAULT_LIMIT).message },
      body: ({ secret }) => checkBody({ headers: withKey(secret, [['x-padding', new Uint8Array(DEFAULT_LIMIT)]]) }),
    },
    {
      title: 'refuses 10,000 headers (beyond 64 KiB) with RESOURCE_EXHAUSTED',
      expected: { code: 'RESOURCE_EXHAUSTED', message: tooLarge(DEFAULT_LIMIT).message },
      body: ({ secret }) =>
        checkBody({
          headers: withKey(
            secret,
            many((index) => [`x-h${index}`, utf8('v')] as const),
          ),
        }),
    },
    {
      title: 'refuses 1,025 headers with INVALID_ARGUMENT naming the limit',
      expected: { code: 'INVALID_ARGUMENT', message: /at most 1024 headers allowed, got 1031/ },
      body: ({ secret }) =>
        checkBody({
          headers: withKey(
            secret,
            many((index) => [`x-h${index}`, utf8('v')] as const, 1025),
          ),
        }),
    },
    {
      title: 'refuses a header_map of 2,000 entries with INVALID_ARGUMENT naming the limit',
      expected: { code: 'INVALID_ARGUMENT', message: /at most 1024 headers allowed, got 2000/ },
      body: () => checkBody({ headers: [], headerMap: many((index) => [`x-h${index}`, utf8('v')] as const, 2000) }),
    },
    {
      title: 'answers bytes that are not protobuf with INVALID_ARGUMENT naming CheckRequest',
      expected: {
        code: 'INVALID_ARGUMENT',
        message: /^request is not a valid envoy\.service\.auth\.v3\.CheckRequest message/,
      },
      body: () => new Uint8Array(16).fill(0xff),
    },
    {
      title: 'answers a CheckRequest without attributes with INVALID_ARGUMENT saying what is missing',
      expected: { code: 'INVALID_ARGUMENT', message: /^attributes is required/ },
      body: () => new Uint8Array(),
    },
    {
      title: 'answers a CheckRequest of a TCP connection (no HTTP request) with INVALID_ARGUMENT',
      expected: { code: 'INVALID_ARGUMENT', message: /^attributes\.request\.http is required/ },
      body: () => encodeFields([[1, [[4, [[1, [[1, 5]]]]]]]]),
    },
    {
      title: 'answers a valid Check whose client deadline is already in the past with DEADLINE_EXCEEDED',
      expected: { code: 'DEADLINE_EXCEEDED', message: /^Deadline exceeded/ },
      body: ({ secret }) => checkBody({ headers: withKey(secret) }),
      expiredDeadline: true,
    },
    {
      title: 'refuses 10,000 required scopes in the route configuration with a 500 naming the setting',
      expected: {
        httpStatus: 500,
        codes: ['route_misconfigured'],
        message: /context_extensions\.required_scopes lists 10000 scopes/,
      },
      body: ({ secret }) =>
        checkBody({
          headers: withKey(secret),
          extensions: [['required_scopes', utf8(many((index) => `s${index}`).join(','))]],
        }),
    },
    {
      title: 'refuses several authorization headers (header_map) 401 without echoing them',
      expected: { httpStatus: 401, codes: ['invalid_authorization'], message: /^more than one API key/ },
      body: ({ secret }) =>
        checkBody({
          headers: [],
          headerMap: [
            ['authorization', utf8(`Bearer ${secret}`)],
            ['Authorization', utf8(`Bearer ${secret}`)],
          ],
        }),
    },
  ];
  for (const bad of BAD_TEXTS) {
    const bytes = bytesOf(bad);
    cases.push(
      {
        title: `answers an Authorization header "Bearer <${bad.label}>" 401 with a challenge`,
        expected: { httpStatus: 401, codes: KEY_401, message: /./ },
        body: () =>
          checkBody({ headers: [...ENVOY_HEADERS, ['authorization', Buffer.concat([utf8('Bearer '), bytes])]] }),
      },
      {
        title: `answers an Authorization header of ${bad.label} 401 with a challenge`,
        expected: { httpStatus: 401, codes: KEY_401, message: /./ },
        body: () => checkBody({ headers: [...ENVOY_HEADERS, ['authorization', bytes]] }),
      },
      {
        title: `refuses a downstream address of ${bad.label} 403 for a key with an allowlist`,
        expected: { httpStatus: 403, codes: ['ip_not_allowed'], message: /has an IP allowlist/ },
        body: ({ secret }) => checkBody({ headers: withKey(secret), source: bytes }),
      },
      {
        title: `answers required_scopes of ${bad.label} in the route configuration ${isBlank(bad) ? 'as no scope required' : 'with a 500 naming the setting'}`,
        expected: isBlank(bad)
          ? { allowed: true }
          : {
              httpStatus: 500,
              codes: ['route_misconfigured'],
              message: /^route configuration error: context_extensions\.required_scopes names /,
            },
        body: ({ secret }) => checkBody({ headers: withKey(secret), extensions: [['required_scopes', bytes]] }),
      },
    );
  }
  return cases;
}

async function runCheckCase(environment: Environment, testCase: CheckCase): Promise<void> {
  const { server, context } = environment;
  const before = await storedState(server.app.db);
  const outcome = await environment.raw.call(CHECK_PATH, testCase.body(context.target), {
    deadline: testCase.expiredDeadline === true ? Date.now() - 1000 : Date.now() + 20_000,
  });
  const { expected } = testCase;
  if ('code' in expected) {
    expect(status[outcome.code], outcome.details).toBe(expected.code);
    expect(outcome.details).toMatch(expected.message);
    expect(outcome.details.length).toBeLessThanOrEqual(MAX_DETAILS);
  } else {
    expect(status[outcome.code], outcome.details).toBe('OK');
    const response = CheckResponse.decode(outcome.response ?? new Uint8Array());
    const text = JSON.stringify(CheckResponse.toJSON(response));
    expect(text).not.toContain(context.target.secret.slice(17));
    if ('allowed' in expected) {
      expect(response.httpResponse?.$case).toBe('okResponse');
    } else {
      expect(response.httpResponse?.$case).toBe('deniedResponse');
      const denied = response.httpResponse?.$case === 'deniedResponse' ? response.httpResponse.value : undefined;
      const statusNames = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 500: 'InternalServerError' };
      expect(CheckResponse.toJSON(response)).toMatchObject({
        deniedResponse: { status: { code: statusNames[expected.httpStatus] } },
      });
      const body = JSON.parse(denied?.body ?? '{}') as { error?: { code?: string; message?: string } };
      expect(expected.codes).toContain(body.error?.code);
      expect(body.error?.message).toMatch(expected.message);
      expect(body.error?.message?.length ?? 0).toBeLessThanOrEqual(MAX_DETAILS);
      expect(body.error?.message).not.toMatch(/[\n\r]/);
      const challenge = denied?.headers.find((option) => option.header?.key === 'www-authenticate');
      if (expected.httpStatus === 401) expect(challenge?.header?.value).toMatch(/^Bearer/);
    }
  }
  expect(await storedState(server.app.db), 'nothing may be stored').toEqual(before);
}

const CHECK_CASES = checkCases();

describeEachDatabase('hostile input: every RPC through its bad-input catalogue', (kind) => {
  let standard: Environment;
  let raised: Environment;

  beforeAll(async () => {
    standard = await setUp(kind, {});
    raised = await setUp(kind, { MAX_RECEIVE_MESSAGE_BYTES: String(RAISED_LIMIT) });
  }, 60_000);

  afterAll(async () => {
    for (const environment of [standard, raised]) {
      environment.raw.close();
      environment.http2.close();
      await environment.server.stop();
    }
  });

  for (const rpc of RPCS) {
    describe(rpc.name, () => {
      for (const testCase of CASES.get(rpc.name) ?? []) {
        it(`${testCase.title}; stores nothing`, () =>
          runCase(testCase.raisedLimit === true ? raised : standard, testCase));
      }
    });
  }

  describe("Envoy's Check", () => {
    for (const testCase of CHECK_CASES) {
      it(`${testCase.title}; stores nothing`, () => runCheckCase(standard, testCase));
    }
  });

  it('walks every RPC through at least 60 cases (ReportLeakedKeys, with no actor and one refusable text, 20)', () => {
    expect(CHECK_CASES.length).toBeGreaterThanOrEqual(60);
    for (const rpc of RPCS) {
      expect(CASES.get(rpc.name)?.length, rpc.name).toBeGreaterThanOrEqual(rpc === REPORT_LEAKED_KEYS ? 20 : 60);
    }
  });

  describe('SQL metacharacters in free text', () => {
    const NASTY = ["'; DROP TABLE api_keys; --", "Robert'); DROP TABLE audit_events;--", 'x" OR 1=1 #', "\\'; --"];

    it.each(NASTY)('stores the name %j verbatim and harmlessly', async (nasty) => {
      const { server, context } = standard;
      const before = await storedState(server.app.db);
      const created = await createTestKey(server, context.actor, { name: nasty });
      expect(created.key.name).toBe(nasty);
      const fetched = await server.clients.admin.getKey({ actor: context.actor, keyId: created.key.id });
      expect(fetched.key?.name).toBe(nasty);
      const row = (await server.app.db('api_keys').where('id', created.key.id).first()) as { name: string };
      expect(row.name).toBe(nasty);
      const after = await storedState(server.app.db);
      expect(after.api_keys).toBe(before.api_keys + 1);
      expect(after.audit_events).toBe(before.audit_events + 1);
    });

    it('stores a revocation reason full of SQL metacharacters verbatim', async () => {
      const { server, context } = standard;
      const created = await createTestKey(server, context.actor);
      const revoked = await server.clients.admin.revokeKey({
        actor: context.actor,
        keyId: created.key.id,
        reason: NASTY[1]!,
      });
      expect(revoked.key?.revokeReason).toBe(NASTY[1]);
      const events = await server.clients.admin.listAuditEvents({
        actor: context.actor,
        keyId: created.key.id,
        pageSize: 0,
        pageToken: '',
      });
      expect(events.events.map((event) => event.reason)).toContain(NASTY[1]);
    });
  });
});
