/**
 * The role × action × ownership × organization matrix of KeyAdmin, exhaustively, through the real server.
 *
 * Every case starts from two fresh organizations: the actor's ("same") and another one ("other"). The key
 * the call targets is created in one of them, by the acting user's id ("own key") or by somebody else
 * ("another user's key"); the same user id exists in the other organization too, so "own key in another
 * organization" means a key that a namesake created there. Role checks come before any lookup, so a role
 * that may not perform an action is PERMISSION_DENIED whatever the key; a role that may is NOT_FOUND for
 * a key of another organization, exactly as for a key that does not exist.
 */
import { type ServiceError, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { type Actor, AuditAction, KeyOwnerFilter, KeyState, Role } from '../../gen/apikeys/v1/api_keys.js';
import type { Timestamp } from '../../gen/google/protobuf/timestamp.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { databaseSnapshot } from '../helpers/databaseSnapshot.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

type Outcome = 'OK' | 'INVALID_ARGUMENT' | 'PERMISSION_DENIED' | 'NOT_FOUND';
type RoleName = 'ROLE_ADMIN' | 'ROLE_READ_ONLY_ADMIN' | 'ROLE_MEMBER' | 'ROLE_UNSPECIFIED';
type Ownership = 'own key' | "another user's key";
type Organization = 'same organization' | 'other organization';

const ROLES: readonly RoleName[] = ['ROLE_ADMIN', 'ROLE_READ_ONLY_ADMIN', 'ROLE_MEMBER', 'ROLE_UNSPECIFIED'];
const OWNERSHIPS: readonly Ownership[] = ['own key', "another user's key"];
const ORGANIZATIONS: readonly Organization[] = ['same organization', 'other organization'];
const ACTING_USER = 'alice';
const OTHER_USER = 'bob';

/** The product guide's table, per RPC: which roles may call it at all. */
const PERMITTED: Readonly<Record<string, readonly RoleName[]>> = {
  CreateKey: ['ROLE_ADMIN', 'ROLE_READ_ONLY_ADMIN'],
  GetKey: ['ROLE_ADMIN', 'ROLE_READ_ONLY_ADMIN'],
  GetKeyUsage: ['ROLE_ADMIN', 'ROLE_READ_ONLY_ADMIN'],
  ListKeys: ['ROLE_ADMIN', 'ROLE_READ_ONLY_ADMIN'],
  UpdateKey: ['ROLE_ADMIN'],
  'UpdateKey enabled=false': ['ROLE_ADMIN'],
  'UpdateKey enabled=true': ['ROLE_ADMIN'],
  RevokeKey: ['ROLE_ADMIN'],
  RotateKey: ['ROLE_ADMIN'],
  RevokeUserKeys: ['ROLE_ADMIN'],
  ListScopes: ['ROLE_ADMIN', 'ROLE_READ_ONLY_ADMIN'],
  ListAuditEvents: ['ROLE_ADMIN', 'ROLE_READ_ONLY_ADMIN'],
};

/** What the target of a call is, and where. */
interface Target {
  readonly server: TestServer;
  readonly actor: Actor;
  readonly key: TestKey;
  readonly keyOwner: string;
  readonly sameOrganization: boolean;
}

/** One RPC of the matrix: how to call it, and what success must look like. */
interface MatrixRpc {
  readonly name: string;
  /** Whether the call targets one key (so another organization's key is NOT_FOUND). */
  readonly targetsKey: boolean;
  /** Whether a successful call writes to the database. */
  readonly writes: (target: Target) => boolean;
  /** Brings the target key into the state the call needs (before the snapshot), through the server. */
  readonly prepare?: (server: TestServer, key: TestKey) => Promise<void>;
  call(target: Target): Promise<unknown>;
  verifySuccess(target: Target, response: unknown): Promise<void>;
}

async function auditActionsOf(server: TestServer, keyId: string): Promise<string[]> {
  const rows = (await server.app.db('audit_events').where('key_id', keyId).orderBy('create_time')) as {
    action: string;
  }[];
  return rows.map((row) => row.action);
}

/** An UpdateKey request that changes nothing by itself: spread it and set the mask and the field. */
const NO_UPDATE = { name: '', scopes: [] as string[], allowedIps: [] as string[], expiresInHours: 0, metadata: {} };

const KEYED_RPCS: readonly MatrixRpc[] = [
  {
    name: 'GetKey',
    targetsKey: true,
    writes: () => false,
    call: ({ server, actor, key }) => server.clients.admin.getKey({ actor, keyId: key.key.id }),
    verifySuccess: ({ key }, response) => {
      expect((response as { key?: { id: string } }).key?.id).toBe(key.key.id);
      return Promise.resolve();
    },
  },
  {
    name: 'GetKeyUsage',
    targetsKey: true,
    writes: () => false,
    call: ({ server, actor, key }) =>
      server.clients.admin.getKeyUsage({ actor, keyId: key.key.id, startDay: '', endDay: '' }),
    verifySuccess: ({ key }, response) => {
      const usage = response as { keyId: string; days: unknown[] };
      expect(usage.keyId).toBe(key.key.id);
      expect(usage.days).toHaveLength(30);
      return Promise.resolve();
    },
  },
  {
    name: 'UpdateKey',
    targetsKey: true,
    writes: () => true,
    call: ({ server, actor, key }) =>
      server.clients.admin.updateKey({
        metadata: {},
        actor,
        keyId: key.key.id,
        name: 'renamed by the matrix',
        scopes: [],
        allowedIps: [],
        expiresInHours: 0,
        updateMask: ['name'],
      }),
    verifySuccess: async ({ server, key }, response) => {
      expect((response as { key?: { name: string } }).key?.name).toBe('renamed by the matrix');
      const row = (await server.app.db('api_keys').where('id', key.key.id).first()) as { name: string };
      expect(row.name).toBe('renamed by the matrix');
      expect(await auditActionsOf(server, key.key.id)).toEqual(['key_created', 'key_updated']);
    },
  },
  {
    name: 'UpdateKey enabled=false',
    targetsKey: true,
    writes: () => true,
    call: ({ server, actor, key }) =>
      server.clients.admin.updateKey({
        ...NO_UPDATE,
        actor,
        keyId: key.key.id,
        enabled: false,
        updateMask: ['enabled'],
      }),
    verifySuccess: async ({ server, key }, response) => {
      const updated = (response as { key?: { state: KeyState; disabledByUserId: string } }).key;
      expect(updated).toMatchObject({ state: KeyState.KEY_STATE_DISABLED, disabledByUserId: ACTING_USER });
      const row = (await server.app.db('api_keys').where('id', key.key.id).first()) as { disable_time: unknown };
      expect(row.disable_time).not.toBeNull();
      expect(await auditActionsOf(server, key.key.id)).toEqual(['key_created', 'key_disabled']);
    },
  },
  {
    name: 'UpdateKey enabled=true',
    targetsKey: true,
    writes: () => true,
    prepare: async (server, key) => {
      const admin = actorOf(key.key.organizationId, 'carol', Role.ROLE_ADMIN);
      await server.clients.admin.updateKey({
        ...NO_UPDATE,
        actor: admin,
        keyId: key.key.id,
        updateMask: ['enabled'],
      });
    },
    call: ({ server, actor, key }) =>
      server.clients.admin.updateKey({
        ...NO_UPDATE,
        actor,
        keyId: key.key.id,
        enabled: true,
        updateMask: ['enabled'],
      }),
    verifySuccess: async ({ server, key }, response) => {
      const updated = (response as { key?: { state: KeyState; disabledByUserId: string } }).key;
      expect(updated).toMatchObject({ state: KeyState.KEY_STATE_ACTIVE, disabledByUserId: '' });
      const row = (await server.app.db('api_keys').where('id', key.key.id).first()) as { disable_time: unknown };
      expect(row.disable_time).toBeNull();
      expect(await auditActionsOf(server, key.key.id)).toEqual(['key_created', 'key_disabled', 'key_enabled']);
    },
  },
  {
    name: 'RevokeKey',
    targetsKey: true,
    writes: () => true,
    call: ({ server, actor, key }) => server.clients.admin.revokeKey({ actor, keyId: key.key.id, reason: 'matrix' }),
    verifySuccess: async ({ server, key }, response) => {
      expect((response as { key?: { state: KeyState } }).key?.state).toBe(KeyState.KEY_STATE_REVOKED);
      const row = (await server.app.db('api_keys').where('id', key.key.id).first()) as { revoke_time: unknown };
      expect(row.revoke_time).not.toBeNull();
      expect(await auditActionsOf(server, key.key.id)).toEqual(['key_created', 'key_revoked']);
    },
  },
  {
    name: 'RotateKey',
    targetsKey: true,
    writes: () => true,
    call: ({ server, actor, key }) => server.clients.admin.rotateKey({ actor, keyId: key.key.id, gracePeriodHours: 1 }),
    verifySuccess: async ({ server, key }, response) => {
      const rotated = response as { newKey?: { rotatedFromKeyId: string }; oldKey?: { replacedByKeyId: string } };
      expect(rotated.newKey?.rotatedFromKeyId).toBe(key.key.id);
      expect(rotated.oldKey?.replacedByKeyId).not.toBe('');
      expect(await auditActionsOf(server, key.key.id)).toEqual(['key_created', 'key_rotated']);
    },
  },
  {
    name: 'ListAuditEvents',
    targetsKey: true,
    writes: () => false,
    call: ({ server, actor, key }) =>
      server.clients.admin.listAuditEvents({ actor, keyId: key.key.id, pageSize: 0, pageToken: '' }),
    verifySuccess: ({ key }, response) => {
      const events = (response as { events: { keyId: string; action: AuditAction }[] }).events;
      expect(events.map((event) => [event.keyId, event.action])).toEqual([
        [key.key.id, AuditAction.AUDIT_ACTION_KEY_CREATED],
      ]);
      return Promise.resolve();
    },
  },
  {
    name: 'ListKeys',
    targetsKey: false,
    writes: () => false,
    call: ({ server, actor }) =>
      server.clients.admin.listKeys({
        actor,
        owner: KeyOwnerFilter.KEY_OWNER_FILTER_ORGANIZATION,
        states: [],
        pageSize: 100,
        pageToken: '',
      }),
    verifySuccess: ({ key, sameOrganization }, response) => {
      const ids = (response as { keys: { id: string }[] }).keys.map((listed) => listed.id);
      // The whole organization's keys, and nothing of another organization.
      expect(ids).toEqual(sameOrganization ? [key.key.id] : []);
      return Promise.resolve();
    },
  },
  {
    name: 'RevokeUserKeys',
    targetsKey: false,
    writes: ({ sameOrganization }) => sameOrganization,
    call: ({ server, actor, keyOwner }) => server.clients.admin.revokeUserKeys({ actor, userId: keyOwner, reason: '' }),
    verifySuccess: async ({ server, key, sameOrganization }, response) => {
      const revoked = response as { revokedCount: number; revokedKeyIds: string[] };
      // Only keys of the actor's organization: a namesake's keys elsewhere stay active.
      expect(revoked).toMatchObject(
        sameOrganization ? { revokedCount: 1, revokedKeyIds: [key.key.id] } : { revokedCount: 0, revokedKeyIds: [] },
      );
      const row = (await server.app.db('api_keys').where('id', key.key.id).first()) as { revoke_time: unknown };
      expect(row.revoke_time === null).toBe(!sameOrganization);
    },
  },
];

interface KeyedCase {
  readonly rpc: MatrixRpc;
  readonly role: RoleName;
  readonly ownership: Ownership;
  readonly organization: Organization;
  readonly expected: Outcome;
  readonly title: string;
}

function expectedOutcome(rpc: MatrixRpc, role: RoleName, organization: Organization): Outcome {
  if (role === 'ROLE_UNSPECIFIED') return 'INVALID_ARGUMENT';
  if (!(PERMITTED[rpc.name] ?? []).includes(role)) return 'PERMISSION_DENIED';
  if (rpc.targetsKey && organization === 'other organization') return 'NOT_FOUND';
  return 'OK';
}

function targetDescription(rpc: MatrixRpc, ownership: Ownership): string {
  if (rpc.name === 'RevokeUserKeys') return ownership === 'own key' ? 'their own keys' : "another user's keys";
  if (rpc.name === 'ListKeys')
    return ownership === 'own key' ? 'a listing holding their own key' : "a listing holding another user's key";
  return ownership === 'own key' ? 'their own key' : "another user's key";
}

const KEYED_CASES: readonly KeyedCase[] = KEYED_RPCS.flatMap((rpc) =>
  ROLES.flatMap((role) =>
    OWNERSHIPS.flatMap((ownership) =>
      ORGANIZATIONS.map((organization) => ({
        rpc,
        role,
        ownership,
        organization,
        expected: expectedOutcome(rpc, role, organization),
        title: `${rpc.name} as ${role} on ${targetDescription(rpc, ownership)} in the ${organization}`,
      })),
    ),
  ),
);

interface CreateCase {
  readonly role: RoleName;
  readonly scopes: 'read-only scopes' | 'write scopes';
  readonly expected: Outcome;
}

const CREATE_CASES: readonly CreateCase[] = ROLES.flatMap((role) =>
  (['read-only scopes', 'write scopes'] as const).map((scopes) => ({
    role,
    scopes,
    expected:
      role === 'ROLE_UNSPECIFIED'
        ? 'INVALID_ARGUMENT'
        : !(PERMITTED.CreateKey ?? []).includes(role)
          ? 'PERMISSION_DENIED'
          : role === 'ROLE_READ_ONLY_ADMIN' && scopes === 'write scopes'
            ? 'PERMISSION_DENIED'
            : 'OK',
  })),
);

const SCOPES_CASES: readonly { role: RoleName; expected: Outcome }[] = ROLES.map((role) => ({
  role,
  expected:
    role === 'ROLE_UNSPECIFIED'
      ? 'INVALID_ARGUMENT'
      : (PERMITTED.ListScopes ?? []).includes(role)
        ? 'OK'
        : 'PERMISSION_DENIED',
}));

const OUTCOMES: readonly Outcome[] = ['OK', 'INVALID_ARGUMENT', 'PERMISSION_DENIED', 'NOT_FOUND'];

/** What a Read-Only Admin is told for each Admin-only RPC. */
const ADMIN_ONLY_ACTION: Readonly<Record<string, string>> = {
  UpdateKey: 'update keys',
  'UpdateKey enabled=false': 'update keys',
  'UpdateKey enabled=true': 'update keys',
  RevokeKey: 'revoke keys',
  RotateKey: 'rotate keys',
  RevokeUserKeys: 'revoke keys',
};

/** The exact message of a refusal: the same for every key, so it reveals nothing about the key. */
function refusalMessage(rpc: string, role: RoleName, expected: Exclude<Outcome, 'OK'>, keyId: string): string {
  switch (expected) {
    case 'INVALID_ARGUMENT':
      return 'actor.role must be ROLE_ADMIN, ROLE_READ_ONLY_ADMIN or ROLE_MEMBER, got ROLE_UNSPECIFIED';
    case 'NOT_FOUND':
      return `API key "${keyId}" not found in your organization`;
    case 'PERMISSION_DENIED':
      if (role === 'ROLE_MEMBER') return 'only users with the Admin or Read-Only Admin role can manage API keys';
      if (rpc === 'CreateKey') {
        return 'User cannot create keys with these scopes: tickets:write (a Read-Only Admin may only grant *:read scopes)';
      }
      return `only users with the Admin role can ${ADMIN_ONLY_ACTION[rpc] ?? '?'}`;
  }
}

function expectRefusal(error: ServiceError, expected: Exclude<Outcome, 'OK'>, message: string): void {
  expect(status[error.code]).toBe(expected);
  expect(error.details).toBe(message);
}

describeEachDatabase('KeyAdmin role × action × ownership × organization matrix', (kind) => {
  const server = useTestServer(kind);

  /** Two fresh organizations and the target key, created by an Admin with the owner's user id. */
  async function arrange(role: RoleName, ownership: Ownership, organization: Organization): Promise<Target> {
    const actorOrganization = newOrganizationId('actor');
    const otherOrganization = newOrganizationId('other');
    const keyOrganization = organization === 'same organization' ? actorOrganization : otherOrganization;
    const keyOwner = ownership === 'own key' ? ACTING_USER : OTHER_USER;
    const key = await createTestKey(server, actorOf(keyOrganization, keyOwner, Role.ROLE_ADMIN), { name: 'target' });
    return {
      server,
      actor: actorOf(actorOrganization, ACTING_USER, Role[role]),
      key,
      keyOwner,
      sameOrganization: organization === 'same organization',
    };
  }

  for (const outcome of OUTCOMES) {
    const keyed = KEYED_CASES.filter((c) => c.expected === outcome);
    const creates = CREATE_CASES.filter((c) => c.expected === outcome);
    const scopes = SCOPES_CASES.filter((c) => c.expected === outcome);
    describe(outcome === 'OK' ? 'allowed' : `refused with ${outcome}, changing nothing`, () => {
      if (keyed.length > 0)
        it.each(keyed.map((c) => [c.title, c] as const))('%s', async (_title, c) => {
          const target = await arrange(c.role, c.ownership, c.organization);
          await c.rpc.prepare?.(server, target.key);
          const organizations = [target.actor.organizationId, target.key.key.organizationId];
          const before = await databaseSnapshot(server.app.db, organizations);
          if (c.expected === 'OK') {
            const response = await c.rpc.call(target);
            await c.rpc.verifySuccess(target, response);
            if (!c.rpc.writes(target)) expect(await databaseSnapshot(server.app.db, organizations)).toEqual(before);
          } else {
            expectRefusal(
              await grpcError(c.rpc.call(target)),
              c.expected,
              refusalMessage(c.rpc.name, c.role, c.expected, target.key.key.id),
            );
            expect(await databaseSnapshot(server.app.db, organizations)).toEqual(before);
          }
        });

      if (creates.length > 0)
        it.each(creates.map((c) => [`CreateKey as ${c.role} with ${c.scopes}`, c] as const))(
          '%s',
          async (_title, c) => {
            const organization = newOrganizationId('create');
            const actor = actorOf(organization, ACTING_USER, Role[c.role]);
            const request = {
              actor,
              name: 'matrix key',
              scopes:
                c.scopes === 'read-only scopes' ? ['tickets:read', 'users:read'] : ['tickets:read', 'tickets:write'],
              allowedIps: [],
              metadata: {},
            };
            const before = await databaseSnapshot(server.app.db, [organization]);
            if (c.expected === 'OK') {
              const created = await server.clients.admin.createKey(request);
              expect(created.key?.organizationId).toBe(organization);
              expect(created.key?.createdByUserId).toBe(ACTING_USER);
              expect(await auditActionsOf(server, created.key?.id ?? '')).toEqual(['key_created']);
            } else {
              expectRefusal(
                await grpcError(server.clients.admin.createKey(request)),
                c.expected,
                refusalMessage('CreateKey', c.role, c.expected, ''),
              );
              expect(await databaseSnapshot(server.app.db, [organization])).toEqual(before);
            }
          },
        );

      if (scopes.length > 0)
        it.each(scopes.map((c) => [`ListScopes as ${c.role}`, c] as const))('%s', async (_title, c) => {
          const actor = actorOf(newOrganizationId('scopes'), ACTING_USER, Role[c.role]);
          if (c.expected === 'OK') {
            expect((await server.clients.admin.listScopes({ actor })).scopes).toHaveLength(21);
          } else {
            expectRefusal(
              await grpcError(server.clients.admin.listScopes({ actor })),
              c.expected,
              refusalMessage('ListScopes', c.role, c.expected, ''),
            );
          }
        });
    });
  }

  /**
   * An Admin rotating a key keeps its class: a Read-Only Admin's key must not come back as an Admin key that
   * can be widened and lives a year (issue 12, finding 7).
   */
  describe('RotateKey by an Admin keeps the class of the key it replaces', () => {
    const hoursBetween = (from?: Timestamp, to?: Timestamp) => ((to?.seconds ?? 0) - (from?.seconds ?? 0)) / 3600;

    it.each([
      ['ROLE_READ_ONLY_ADMIN', 'tt_readonly_', OTHER_USER, 'FAILED_PRECONDITION'],
      ['ROLE_ADMIN', 'tt_admin_', ACTING_USER, 'OK'],
    ] as const)('a key created by %s stays a %s key', async (creatorRole, label, creator, widening) => {
      const organization = newOrganizationId('rotate-class');
      const admin = actorOf(organization, ACTING_USER, Role.ROLE_ADMIN);
      const old = await createTestKey(server, actorOf(organization, OTHER_USER, Role[creatorRole]), {
        scopes: ['tickets:read'],
      });
      const rotated = await server.clients.admin.rotateKey({ actor: admin, keyId: old.key.id, gracePeriodHours: 1 });
      const replacement = rotated.newKey;
      expect(rotated.secret.startsWith(label)).toBe(true);
      expect(replacement?.prefix.startsWith(label)).toBe(true);
      expect(replacement?.createdByUserId).toBe(creator);
      expect(replacement?.createdByRole).toBe(Role[creatorRole]);
      const lifetime = hoursBetween(replacement?.createTime, replacement?.expireTime);
      if (creatorRole === 'ROLE_READ_ONLY_ADMIN') expect(lifetime).toBe(72);
      else expect(lifetime).toBe(hoursBetween(old.key.createTime, old.key.expireTime));
      const row = (await server.app.db('api_keys').where('id', replacement?.id).first()) as { created_by_role: string };
      expect(row.created_by_role).toBe(creatorRole === 'ROLE_ADMIN' ? 'admin' : 'read_only_admin');

      const widen = server.clients.admin.updateKey({
        metadata: {},
        actor: admin,
        keyId: replacement?.id ?? '',
        name: '',
        scopes: ['tickets:delete', 'users:delete'],
        allowedIps: [],
        expiresInHours: 0,
        updateMask: ['scopes'],
      });
      if (widening === 'OK') {
        expect((await widen).key?.scopes).toEqual(['tickets:delete', 'users:delete']);
      } else {
        const error = await grpcError(widen);
        expect(status[error.code]).toBe('FAILED_PRECONDITION');
        expect(error.details).toBe(
          `key ${replacement?.id ?? ''} was created by a Read-Only Admin and may only hold *:read scopes; not allowed: tickets:delete, users:delete`,
        );
      }
    });

    it("refuses another lifetime for a Read-Only Admin's key's replacement, changing nothing", async () => {
      const organization = newOrganizationId('rotate-class');
      const admin = actorOf(organization, ACTING_USER, Role.ROLE_ADMIN);
      const old = await createTestKey(server, actorOf(organization, OTHER_USER, Role.ROLE_READ_ONLY_ADMIN));
      const before = await databaseSnapshot(server.app.db, [organization]);
      const error = await grpcError(
        server.clients.admin.rotateKey({ actor: admin, keyId: old.key.id, gracePeriodHours: 1, expiresInHours: 8760 }),
      );
      expect(status[error.code]).toBe('FAILED_PRECONDITION');
      expect(error.details).toBe(
        `key ${old.key.id} was created by a Read-Only Admin; its replacement has the same fixed 72-hour lifetime; omit expires_in_hours (got 8760)`,
      );
      expect(await databaseSnapshot(server.app.db, [organization])).toEqual(before);
    });
  });

  it('covers every KeyAdmin RPC', () => {
    const covered = new Set([...KEYED_RPCS.map((rpc) => rpc.name), 'CreateKey', 'ListScopes']);
    expect([...covered].sort()).toEqual(Object.keys(PERMITTED).sort());
    expect(KEYED_CASES).toHaveLength(10 * 4 * 2 * 2);
  });
});
