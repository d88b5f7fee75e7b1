import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { type Connection, createConnection, type RowDataPacket } from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CreateKeyRequest, KeyAdminService, RevokeKeyRequest } from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { TEST_MYSQL_URL } from '../helpers/testDatabase.js';

const skipped = TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : '';
const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;

/**
 * The service's statement deadline here: its row-lock waits last 29 s, so a transaction left to itself
 * holds its locks for that long. The probing transaction below waits at most PROBE_LOCK_WAIT_S for them.
 */
const QUERY_TIMEOUT_MS = 30_000;
const PROBE_LOCK_WAIT_S = 5;

/** A unary KeyAdmin call that the test can cancel; `done` resolves with how it ended (null: OK). */
function startCall<Req>(
  client: Client,
  method: {
    readonly path: string;
    readonly requestSerialize: (value: Req) => Buffer;
    readonly responseDeserialize: (bytes: Buffer) => unknown;
  },
  request: Req,
  deadlineMs?: number,
): { done: Promise<ServiceError | null>; cancel(): void } {
  let cancel = (): void => undefined;
  const done = new Promise<ServiceError | null>((resolve) => {
    const call = client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      new Metadata(),
      deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs },
      (error) => resolve(error),
    );
    cancel = () => call.cancel();
  });
  return { done, cancel };
}

/** Waits until a session of `database` runs a statement starting with `sql` (blocked on a lock); its id. */
async function sessionRunning(probe: Connection, database: string, sql: string): Promise<number> {
  for (let attempt = 0; attempt < 400; attempt++) {
    const [rows] = await probe.query<RowDataPacket[]>(
      'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE ?',
      [database, `${sql}%`],
    );
    if (rows[0] !== undefined) return Number(rows[0].id);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no session of ${database} ran ${sql}`);
}

/** Whether the server session `id` still exists. */
async function sessionExists(probe: Connection, id: number): Promise<boolean> {
  const [rows] = await probe.query<RowDataPacket[]>('SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = ?', [id]);
  return rows.length > 0;
}

describeMysql(`a write transaction whose call is cancelled [mysql]${skipped}`, () => {
  let server: TestServer;
  let databaseName: string;
  /** Holds every gap of audit_events: each write of the service then waits at its audit insert. */
  let blocker: Connection;
  /** The transaction that tries to lock what the cancelled write had locked. */
  let prober: Connection;
  let grpc: Client;
  const admin = actorOf(newOrganizationId('cancel'), 'alice');

  beforeEach(async () => {
    server = await startTestServer('mysql', { DATABASE_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS) });
    databaseName = new URL(server.databaseUrl).pathname.slice(1);
    blocker = await createConnection(server.databaseUrl);
    prober = await createConnection(server.databaseUrl);
    await prober.query(`SET SESSION innodb_lock_wait_timeout = ${PROBE_LOCK_WAIT_S}`);
    grpc = new Client(server.address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  });
  afterEach(async () => {
    grpc.close();
    await blocker.end();
    await prober.end();
    await server.stop();
  });

  async function blockAuditInserts(): Promise<void> {
    await blocker.query('BEGIN');
    await blocker.query('SELECT id FROM audit_events FOR UPDATE');
  }

  it('a cancelled RevokeKey releases the row lock of the key at once and revokes nothing', async () => {
    const key = await createTestKey(server, admin, { name: 'target' });
    await blockAuditInserts();
    const call = startCall(
      grpc,
      KeyAdminService.revokeKey,
      RevokeKeyRequest.fromPartial({ actor: admin, keyId: key.key.id, reason: 'cancelled' }),
    );
    // The revocation has locked and updated the key's row and now waits to insert its audit event.
    const session = await sessionRunning(prober, databaseName, 'insert into `audit_events`');
    call.cancel();
    expect((await call.done)?.code).toBe(status.CANCELLED);

    await prober.query('BEGIN');
    const [rows] = await prober.query<RowDataPacket[]>('SELECT revoke_time FROM api_keys WHERE id = ? FOR UPDATE', [
      key.key.id,
    ]);
    expect(rows[0]?.revoke_time).toBeNull();
    await prober.query('ROLLBACK');
    expect(await sessionExists(prober, session)).toBe(false);
  });

  it('a CreateKey past its deadline rolls back its insert at once', async () => {
    await createTestKey(server, admin, { name: 'existing' });
    await blockAuditInserts();
    const call = startCall(
      grpc,
      KeyAdminService.createKey,
      CreateKeyRequest.fromPartial({ actor: admin, name: 'late', scopes: ['tickets:read'] }),
      3000,
    );
    await sessionRunning(prober, databaseName, 'insert into `audit_events`');
    expect((await call.done)?.code).toBe(status.DEADLINE_EXCEEDED);

    // Locking the organization's keys waits for any uncommitted insert among them.
    await prober.query('BEGIN');
    const [rows] = await prober.query<RowDataPacket[]>(
      'SELECT name FROM api_keys WHERE organization_id = ? FOR UPDATE',
      [admin.organizationId],
    );
    expect(rows.map((row) => row.name as string)).toEqual(['existing']);
    await prober.query('ROLLBACK');
  });

  it('a write still in its transaction when the shutdown drain ends is rolled back before the pool closes', async () => {
    const key = await createTestKey(server, admin, { name: 'target' });
    await blockAuditInserts();
    const call = startCall(
      grpc,
      KeyAdminService.revokeKey,
      RevokeKeyRequest.fromPartial({ actor: admin, keyId: key.key.id, reason: 'at shutdown' }),
    );
    const session = await sessionRunning(prober, databaseName, 'insert into `audit_events`');
    await server.app.stop(1500);
    expect([status.CANCELLED, status.UNAVAILABLE]).toContain((await call.done)?.code);
    expect(await sessionExists(prober, session)).toBe(false);

    await prober.query('BEGIN');
    const [rows] = await prober.query<RowDataPacket[]>('SELECT revoke_time FROM api_keys WHERE id = ? FOR UPDATE', [
      key.key.id,
    ]);
    expect(rows[0]?.revoke_time).toBeNull();
    await prober.query('ROLLBACK');
  });
});
