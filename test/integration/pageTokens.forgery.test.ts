import { createHash, createHmac } from 'node:crypto';

import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';

import {
  type Actor,
  KeyOwnerFilter,
  KeyState,
  ListAuditEventsRequest,
  ListKeysRequest,
} from '../../gen/apikeys/v1/api_keys.js';
import { type App, createApp } from '../../src/createApp.js';
import { ScopeCatalog } from '../../src/domain/ScopeCatalog.js';
import { createDatabase, parseDatabaseUrl } from '../../src/storage/createDatabase.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { createClients, grpcError } from '../helpers/grpcClients.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import type { TestServer } from '../helpers/startTestServer.js';
import { timestampMs } from '../helpers/timestampMs.js';
import { useTestServer } from '../helpers/useTestServer.js';

const RESTART = /^page_token is invalid: .*restart the listing without page_token$/;
const MINE = KeyOwnerFilter.KEY_OWNER_FILTER_MINE;

/**
 * Re-seals a payload for another listing the way anyone could before page tokens were keyed: the checksum
 * was a SHA-256 over public inputs, so `listing` (in the form the service bound) was all one needed.
 */
function resealPublicly(payload: string, listing: unknown[]): string {
  const mac = createHash('sha256')
    .update(`api-key-service/page-token/v1\n${JSON.stringify(listing)}\n${payload}`)
    .digest('base64url');
  return `${payload}.${mac.slice(0, 22)}`;
}

/** The position a token points at, and the token's payload with one byte of it changed (time + 1). */
function shiftedPayload(token: string): string {
  const [time, id] = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as [number, string];
  return Buffer.from(JSON.stringify([time + 1, id])).toString('base64url');
}

/** Expects INVALID_ARGUMENT telling the caller to restart the listing. */
async function expectRestart(call: Promise<unknown>): Promise<void> {
  const error = await grpcError(call);
  expect(error.code).toBe(status.INVALID_ARGUMENT);
  expect(error.details).toMatch(RESTART);
}

function listKeysOf(server: TestServer) {
  return (request: Partial<ListKeysRequest>) => server.clients.admin.listKeys(ListKeysRequest.fromPartial(request));
}
function listEventsOf(server: TestServer) {
  return (request: Partial<ListAuditEventsRequest>) =>
    server.clients.admin.listAuditEvents(ListAuditEventsRequest.fromPartial(request));
}

/** An organization with three keys (and so three audit events), created by `userId`. */
async function organizationWithKeys(server: TestServer, userId = 'alice'): Promise<Actor> {
  const actor = actorOf(newOrganizationId(), userId);
  for (let i = 0; i < 3; i++) await createTestKey(server, actor);
  return actor;
}

describeEachDatabase('page tokens: authenticated and bound to their listing', (kind) => {
  const server = useTestServer(kind);
  const list = listKeysOf(server);
  const listEvents = listEventsOf(server);

  it('rejects a forged token (a position sealed with the public checksum)', async () => {
    const alice = await organizationWithKeys(server);
    const payload = Buffer.from(JSON.stringify([Date.now() + 3_600_000, 'key_zzzzzzzzzzzzzzzzzzzzzz'])).toString(
      'base64url',
    );
    await expectRestart(
      list({ actor: alice, pageToken: resealPublicly(payload, ['keys', alice.organizationId, '', []]) }),
    );
  });

  it('rejects a token altered by one byte, even with its checksum recomputed', async () => {
    const alice = await organizationWithKeys(server);
    const { nextPageToken } = await list({ actor: alice, pageSize: 1 });
    const altered = resealPublicly(shiftedPayload(nextPageToken), ['keys', alice.organizationId, '', []]);
    await expectRestart(list({ actor: alice, pageSize: 1, pageToken: altered }));
    const [payload, mac] = nextPageToken.split('.') as [string, string];
    const flippedMac = `${payload}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    await expectRestart(list({ actor: alice, pageSize: 1, pageToken: flippedMac }));
  });

  it("rejects user A's organization listing token used by user B of the same organization", async () => {
    const alice = await organizationWithKeys(server);
    const bob = actorOf(alice.organizationId, 'bob');
    const { nextPageToken } = await list({ actor: alice, pageSize: 1 });
    await expectRestart(list({ actor: bob, pageSize: 1, pageToken: nextPageToken }));
    const mine = await list({ actor: alice, owner: MINE, pageSize: 1 });
    await expectRestart(list({ actor: bob, owner: MINE, pageSize: 1, pageToken: mine.nextPageToken }));
    const events = await listEvents({ actor: alice, pageSize: 1 });
    await expectRestart(listEvents({ actor: bob, pageSize: 1, pageToken: events.nextPageToken }));
    // The same user goes on as before.
    expect((await list({ actor: alice, pageSize: 1, pageToken: nextPageToken })).keys).toHaveLength(1);
  });

  it("rejects organization A's token in organization B, also when re-sealed for B", async () => {
    const alice = await organizationWithKeys(server);
    const other = await organizationWithKeys(server);
    const { nextPageToken } = await list({ actor: alice, pageSize: 1 });
    await expectRestart(list({ actor: other, pageSize: 1, pageToken: nextPageToken }));
    const resealed = resealPublicly(nextPageToken.split('.')[0]!, ['keys', other.organizationId, '', []]);
    await expectRestart(list({ actor: other, pageSize: 1, pageToken: resealed }));
    const events = await listEvents({ actor: alice, pageSize: 1 });
    const resealedEvent = resealPublicly(events.nextPageToken.split('.')[0]!, [
      'audit',
      other.organizationId,
      '',
      '',
      '',
    ]);
    await expectRestart(listEvents({ actor: other, pageSize: 1, pageToken: resealedEvent }));
  });

  it('rejects a token from a listing with other filters, also when re-sealed for them', async () => {
    const alice = await organizationWithKeys(server);
    const { nextPageToken } = await list({ actor: alice, pageSize: 1 });
    const active = [KeyState.KEY_STATE_ACTIVE];
    await expectRestart(list({ actor: alice, states: active, pageSize: 1, pageToken: nextPageToken }));
    const resealed = resealPublicly(nextPageToken.split('.')[0]!, ['keys', alice.organizationId, '', ['active']]);
    await expectRestart(list({ actor: alice, states: active, pageSize: 1, pageToken: resealed }));
  });
});

describeEachDatabase('page tokens: configured with PAGE_TOKEN_SECRET', (kind) => {
  const secret = 'a-configured-page-token-secret-of-40-chars';
  const server = useTestServer(kind, { PAGE_TOKEN_SECRET: secret });
  const list = listKeysOf(server);

  it('uses the configured secret (a token sealed with it is accepted) and creates none in the database', async () => {
    const alice = await organizationWithKeys(server);
    const all = await list({ actor: alice, pageSize: 10 });
    const after = all.keys[0]!;
    const payload = Buffer.from(JSON.stringify([timestampMs(after.createTime), after.id])).toString('base64url');
    const listing = JSON.stringify(['keys', alice.organizationId, alice.userId, false, []]);
    const mac = createHmac('sha256', Buffer.from(secret))
      .update(`api-key-service/page-token/v2\n${listing}\n${payload}`)
      .digest('base64url');
    const page = await list({ actor: alice, pageSize: 10, pageToken: `${payload}.${mac}` });
    expect(page.keys.map((key) => key.id)).toEqual(all.keys.slice(1).map((key) => key.id));
    const db = createDatabase(parseDatabaseUrl(server.databaseUrl), { poolMax: 1, acquireTimeoutMs: 5000 });
    try {
      expect(await db('service_secrets').select('name')).toEqual([]);
    } finally {
      await db.destroy();
    }
  });
});

describeEachDatabase('page tokens: two replicas on one database', (kind) => {
  const server = useTestServer(kind);
  let second: App;
  let secondClients: ReturnType<typeof createClients>;

  beforeAll(async () => {
    second = createApp(server.config, { logger: pino({ level: 'silent' }), scopes: ScopeCatalog.default() });
    secondClients = createClients(`127.0.0.1:${await second.start()}`);
  });
  afterAll(async () => {
    secondClients.close();
    await second.stop(1000);
  });

  it("accepts each other's tokens (one secret, created once in the database)", async () => {
    const alice = await organizationWithKeys(server);
    const replicas = [server.clients.admin, secondClients.admin];
    const seen: string[] = [];
    let pageToken = '';
    for (let page = 0; page < 3; page++) {
      const reply = await replicas[page % 2]!.listKeys(
        ListKeysRequest.fromPartial({ actor: alice, pageSize: 1, pageToken }),
      );
      seen.push(...reply.keys.map((key) => key.id));
      pageToken = reply.nextPageToken;
    }
    expect(pageToken).toBe('');
    expect(new Set(seen).size).toBe(3);
    const events = await secondClients.admin.listAuditEvents(
      ListAuditEventsRequest.fromPartial({ actor: alice, pageSize: 1 }),
    );
    const rest = await server.clients.admin.listAuditEvents(
      ListAuditEventsRequest.fromPartial({ actor: alice, pageSize: 5, pageToken: events.nextPageToken }),
    );
    expect(rest.events).toHaveLength(2);
    const db = createDatabase(parseDatabaseUrl(server.databaseUrl), { poolMax: 1, acquireTimeoutMs: 5000 });
    try {
      const rows = await db<{ name: string; secret: Buffer }>('service_secrets').select('name', 'secret');
      expect(rows.map((row) => [row.name, Buffer.from(row.secret).length])).toEqual([['page-token', 32]]);
    } finally {
      await db.destroy();
    }
  });
});
