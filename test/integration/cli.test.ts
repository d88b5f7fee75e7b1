import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { Metadata, Server, ServerCredentials, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DenialReason, KeyAdminService, KeyState } from '../../gen/apikeys/v1/api_keys.js';
import { CERTIFICATE_IDENTITIES, createTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

const BIN = join(process.cwd(), 'bin', 'apikeys.js');
const SECRET_PATTERN = /\btt_(admin|readonly)_[0-9A-Za-z]{30}\b/g;

/** How one run of the binary ended. */
interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of the test process without any APIKEYS_* setting, so only what a test sets counts. */
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('APIKEYS_')));

/**
 * Runs the real `apikeys` binary (bin/apikeys.js) as its own process, from the TypeScript sources
 * (APIKEYS_CLI_FROM_SOURCE=1: an older dist/ must not be what is tested).
 */
function apikeys(args: readonly string[], options: { env?: Record<string, string>; stdin?: string } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...BASE_ENV, APIKEYS_CLI_FROM_SOURCE: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(options.stdin ?? '');
  return new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Parses the JSON a `--json` run printed. */
function json(run: CliRun): unknown {
  expect(run.stderr).not.toMatch(/\n\s+at /);
  return JSON.parse(run.stdout);
}

interface KeyJson {
  id: string;
  name: string;
  prefix: string;
  state: string;
  scopes?: string[];
  allowedIps?: string[];
  revokeReason?: string;
  replacedByKeyId?: string;
  rotatedFromKeyId?: string;
}

describe('apikeys CLI (the real binary against a real server) [sqlite]', () => {
  const server = useTestServer('sqlite');

  /** The environment of an admin of a fresh organization, pointed at the test server. */
  const adminEnv = (org = newOrganizationId('cli'), user = 'alice', role = 'admin'): Record<string, string> => ({
    APIKEYS_ADDRESS: server.address,
    APIKEYS_ORG: org,
    APIKEYS_USER: user,
    APIKEYS_ROLE: role,
  });

  /** Creates a key through the CLI and returns it with its secret. */
  const createKey = async (env: Record<string, string>, extra: string[] = []) => {
    const run = await apikeys(['create', '--name', 'CLI key', '--scope', 'tickets:read', '--json', ...extra], { env });
    expect(run.code).toBe(0);
    return json(run) as { key: KeyJson; secret: string };
  };

  describe('succeeds', () => {
    it('create prints the secret exactly once, with a warning that it cannot be retrieved again', async () => {
      const env = adminEnv();
      const run = await apikeys(
        [
          'create',
          '--name',
          'Zendesk Sync - Production',
          '--scope',
          'tickets:read,comments:read',
          '--ip',
          '203.0.113.50',
        ],
        { env },
      );
      expect(run.code).toBe(0);
      const secrets = [...`${run.stdout}${run.stderr}`.matchAll(SECRET_PATTERN)].map((match) => match[0]);
      expect(secrets).toHaveLength(1);
      expect(run.stdout).toContain(`secret        ${secrets[0]}`);
      expect(run.stdout).toMatch(/name\s+Zendesk Sync - Production/);
      expect(run.stdout).toMatch(/scopes\s+comments:read, tickets:read/);
      expect(run.stdout).toMatch(/allowed ips\s+203\.0\.113\.50/);
      expect(run.stderr).toContain('this is the only time the secret is shown');
      expect(run.stderr).toContain('cannot be retrieved again');
      const verified = await server.clients.verifier.verifyKey({
        key: secrets[0]!,
        clientIp: '203.0.113.50',
        requiredScopes: ['comments:read'],
      });
      expect(verified.valid).toBe(true);
    });

    it('create --json prints parseable JSON with the key and its secret', async () => {
      const created = await createKey(adminEnv(), ['--expires-in-hours', '72']);
      expect(created.secret).toMatch(/^tt_admin_[0-9A-Za-z]{30}$/);
      expect(created.key).toMatchObject({ name: 'CLI key', state: 'KEY_STATE_ACTIVE', scopes: ['tickets:read'] });
      expect(created.key.id).toMatch(/^key_/);
    });

    it('list shows the organization’s keys as a table and as JSON, filters by state and follows pages', async () => {
      const env = adminEnv();
      const first = await createKey(env);
      const second = await createKey(env);
      await apikeys(['revoke', first.key.id], { env });

      const table = await apikeys(['list'], { env });
      expect(table.code).toBe(0);
      const lines = table.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^ID\s+NAME\s+PREFIX\s+STATE\s+SCOPES\s+EXPIRES\s+LAST USED$/);
      expect(lines).toHaveLength(3);
      expect(table.stdout).toContain(second.key.prefix);
      expect(table.stdout).not.toContain(second.secret);

      const active = json(await apikeys(['list', '--state', 'active', '--json'], { env })) as { keys: KeyJson[] };
      expect(active.keys.map((key) => key.id)).toEqual([second.key.id]);

      const onePage = await apikeys(['list', '--page-size', '1'], { env });
      expect(onePage.stderr).toMatch(/more keys: add --page-token \S+/);
      const all = json(await apikeys(['list', '--page-size', '1', '--all', '--json'], { env })) as { keys: KeyJson[] };
      expect(all.keys.map((key) => key.id).sort()).toEqual([first.key.id, second.key.id].sort());
    });

    it('get shows every field of one key, never its secret', async () => {
      const env = adminEnv();
      const created = await createKey(env);
      const run = await apikeys(['get', created.key.id], { env });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`id\\s+${created.key.id}`));
      expect(run.stdout).toMatch(/state\s+active/);
      expect(run.stdout).toMatch(/last used\s+never/);
      expect(run.stdout).not.toContain(created.secret);
      const viaJson = json(await apikeys(['get', created.key.id, '--json'], { env })) as { key: KeyJson };
      expect(viaJson.key.id).toBe(created.key.id);
    });

    it('update changes exactly the fields given', async () => {
      const env = adminEnv();
      const created = await createKey(env, ['--ip', '203.0.113.50']);
      const run = await apikeys(
        ['update', created.key.id, '--name', 'Renamed', '--scope', 'tickets:read,users:read', '--json'],
        { env },
      );
      const updated = (json(run) as { key: KeyJson }).key;
      expect(updated).toMatchObject({
        name: 'Renamed',
        scopes: ['tickets:read', 'users:read'],
        allowedIps: ['203.0.113.50'],
      });
      const cleared = json(await apikeys(['update', created.key.id, '--any-ip', '--json'], { env })) as {
        key: KeyJson;
      };
      expect(cleared.key.allowedIps).toBeUndefined();
      expect(cleared.key.name).toBe('Renamed');
      // A lone replica confirms its own write at once.
      expect((json(run) as { propagation: unknown }).propagation).toMatchObject({
        confirmedReplicas: 1,
        liveReplicas: 1,
        complete: true,
      });
      const text = await apikeys(['update', created.key.id, '--name', 'Again'], { env });
      expect(text.stdout).toMatch(/\npropagated to 1\/1 replica in \d+ ms\n$/);
    });

    it('suspend denies the key at once naming who suspended it; resume makes it verify again', async () => {
      const env = adminEnv();
      const created = await createKey(env);
      const verify = () => server.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
      const suspended = await apikeys(['suspend', created.key.id], { env });
      expect(suspended.code).toBe(0);
      expect(suspended.stdout).toMatch(/state\s+disabled/);
      expect(suspended.stdout).toMatch(/suspended\s+\S+ by alice/);
      expect((await verify()).denialReason).toBe(DenialReason.DENIAL_REASON_DISABLED);
      const listed = await apikeys(['list', '--state', 'disabled'], { env });
      expect(listed.stdout).toContain(created.key.id);
      const resumed = json(await apikeys(['resume', created.key.id, '--json'], { env })) as { key: KeyJson };
      expect(resumed.key.state).toBe('KEY_STATE_ACTIVE');
      expect((await verify()).valid).toBe(true);
      const audit = await apikeys(['audit', '--key-id', created.key.id], { env });
      expect(audit.stdout).toMatch(/resumed/);
      expect(audit.stdout).toMatch(/suspended/);
    });

    it('report-leaked revokes a leaked key read from standard input, naming it', async () => {
      const env = adminEnv();
      const created = await createKey(env);
      const run = await apikeys(['report-leaked', '--location', 'https://example.com/paste/1'], {
        env: { APIKEYS_ADDRESS: server.address },
        stdin: created.secret,
      });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/result\s+REVOKED now/);
      expect(run.stdout).toContain(created.key.id);
      expect(run.stdout).not.toContain(created.secret);
      const again = await apikeys(['report-leaked'], { env: { APIKEYS_ADDRESS: server.address }, stdin: 'nope' });
      expect(again.stdout).toMatch(/result\s+not a key/);
    });

    it('revoke revokes at once: the next verification is refused', async () => {
      const env = adminEnv();
      const created = await createKey(env);
      const run = await apikeys(['revoke', created.key.id, '--reason', 'leaked in a CI log'], { env });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/state\s+revoked/);
      expect(run.stdout).toMatch(/revoked\s+\S+ by alice: leaked in a CI log/);
      expect(run.stdout).toMatch(/\npropagated to 1\/1 replica in \d+ ms\n$/);
      const again = json(await apikeys(['revoke', created.key.id, '--json'], { env })) as { propagation: unknown };
      expect(again.propagation).toMatchObject({ confirmedReplicas: 1, liveReplicas: 1, complete: true });
      const verified = await server.clients.verifier.verifyKey({
        key: created.secret,
        clientIp: '',
        requiredScopes: [],
      });
      expect(verified.valid).toBe(false);
    });

    it('rotate prints the new secret once and links the keys', async () => {
      const env = adminEnv();
      const created = await createKey(env);
      const run = await apikeys(['rotate', created.key.id, '--grace-period-hours', '24'], { env });
      expect(run.code).toBe(0);
      const secrets = [...`${run.stdout}${run.stderr}`.matchAll(SECRET_PATTERN)].map((match) => match[0]);
      expect(secrets).toHaveLength(1);
      expect(secrets[0]).not.toBe(created.secret);
      expect(run.stdout).toMatch(new RegExp(`rotated from\\s+${created.key.id}`));
      expect(run.stdout).toMatch(/\npropagated to 1\/1 replica in \d+ ms\n$/);
      expect(run.stderr).toContain('cannot be retrieved again');
      const old = (json(await apikeys(['get', created.key.id, '--json'], { env })) as { key: KeyJson }).key;
      expect(old.replacedByKeyId).toMatch(/^key_/);
      expect(old.state).toBe('KEY_STATE_ACTIVE');
    });

    it('revoke-user revokes every active key the user created and lists them', async () => {
      const org = newOrganizationId('cli');
      const bob = await createKey(adminEnv(org, 'bob'));
      const bob2 = await createKey(adminEnv(org, 'bob'));
      const alice = await createKey(adminEnv(org, 'alice'));
      const run = await apikeys(['revoke-user', 'bob', '--reason', 'offboarding'], { env: adminEnv(org, 'alice') });
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('revoked 2 keys');
      expect(run.stdout).toContain(bob.key.id);
      expect(run.stdout).toContain(bob2.key.id);
      expect(run.stdout).toMatch(/\npropagated to 1\/1 replica in \d+ ms\n$/);
      const remaining = await server.clients.admin.getKey({ actor: actorOf(org, 'alice'), keyId: alice.key.id });
      expect(remaining.key?.state).toBe(KeyState.KEY_STATE_ACTIVE);
    });

    it('scopes lists the catalog', async () => {
      const env = adminEnv();
      const table = await apikeys(['scopes'], { env });
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^SCOPE\s+READ-ONLY\s+DESCRIPTION/);
      expect(table.stdout).toMatch(/tickets:read\s+yes/);
      const catalog = json(await apikeys(['scopes', '--json'], { env })) as { scopes: { name: string }[] };
      expect(catalog.scopes).toHaveLength(21);
    });

    it('audit shows who did what to a key, newest first', async () => {
      const env = adminEnv();
      const created = await createKey(env);
      await apikeys(['revoke', created.key.id, '--reason', 'done'], { env });
      const run = await apikeys(['audit', '--key-id', created.key.id], { env });
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^TIME\s+ACTION\s+KEY\s+ACTOR\s+CALLER\s+DETAILS$/);
      expect(lines[1]).toMatch(
        new RegExp(`revoked\\s+${created.key.id}\\s+alice \\(admin\\)\\s+anonymous\\s+.*reason: done`),
      );
      expect(lines[2]).toMatch(new RegExp(`created\\s+${created.key.id}`));
      const events = json(
        await apikeys(['audit', '--key-id', created.key.id, '--since', '2000-01-01', '--json'], { env }),
      ) as { events: { action: string }[] };
      expect(events.events.map((event) => event.action)).toEqual([
        'AUDIT_ACTION_KEY_REVOKED',
        'AUDIT_ACTION_KEY_CREATED',
      ]);
    });

    it('usage prints a table of days and a sparkline of verifications and denials', async () => {
      const env = adminEnv();
      const created = await createKey(env);
      const day = (offset: number) => new Date(Date.now() - offset * 86_400_000).toISOString().slice(0, 10);
      const dayNumber = (offset: number) => Math.floor(Date.now() / 86_400_000) - offset;
      await server.app.db('key_usage').insert([
        { key_id: created.key.id, day: dayNumber(2), verified: 8, insufficient_scope: 2 },
        { key_id: created.key.id, day: dayNumber(0), verified: 1, insufficient_scope: 0 },
      ]);
      for (let i = 0; i < 3; i++) {
        await server.clients.verifier.verifyKey({
          key: created.secret,
          clientIp: '',
          requiredScopes: ['tickets:read'],
        });
      }
      await server.app.lastUsed.flush();
      const run = await apikeys(['usage', created.key.id, '--days', '3'], { env });
      expect(run.code).toBe(0);
      expect(run.stdout.split('\n')).toEqual([
        'DAY         VERIFIED  DENIED  DENIALS',
        `${day(2)}  8         2       insufficient_scope 2`,
        `${day(1)}  0         0`,
        `${day(0)}  4         0`,
        '',
        'verified  █ ▄  12 in all',
        'denied    █    2 in all',
        `          ${day(2)} … ${day(0)} (UTC), one column per day`,
        '',
      ]);
      const parsed = json(
        await apikeys(['usage', created.key.id, '--until', day(1), '--days', '2', '--json'], { env }),
      ) as {
        days: { day: string; verified?: number }[];
      };
      expect(parsed.days).toEqual([
        { day: day(2), verified: 8, denied: 2, denials: [{ reason: 'DENIAL_REASON_INSUFFICIENT_SCOPE', count: 2 }] },
        { day: day(1) },
      ]);
      const tooMany = await apikeys(['usage', created.key.id, '--days', '367'], { env });
      expect(tooMany.code).toBe(2);
      expect(tooMany.stderr).toMatch(/--days must be an integer from 1 to 366, got "367"/);
    });

    it('verify reads the key from standard input and exits 0 for a valid key', async () => {
      const created = await createKey(adminEnv());
      const run = await apikeys(['verify', '--scope', 'tickets:read', '--ip', '198.51.100.7'], {
        env: { APIKEYS_ADDRESS: server.address },
        stdin: `${created.secret}\n`,
      });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/result\s+valid \(200\)/);
      expect(run.stdout).toMatch(/message\s+API key is valid and working correctly/);
      expect(run.stdout).toContain(created.key.id);
    });

    it('prints help, with the exit codes, and help for one command', async () => {
      const run = await apikeys(['--help']);
      expect(run.code).toBe(0);
      for (const name of [
        'create',
        'list',
        'get',
        'update',
        'suspend',
        'resume',
        'revoke',
        'rotate',
        'revoke-user',
        'report-leaked',
        'scopes',
        'audit',
        'verify',
      ]) {
        expect(run.stdout).toMatch(new RegExp(`^  ${name}\\s`, 'm'));
      }
      expect(run.stdout).toContain('10+N');
      expect(run.stdout).toContain('17 PERMISSION_DENIED');
      expect(run.stdout).toContain('APIKEYS_TOKEN');
      const one = await apikeys(['rotate', '--help']);
      expect(one.code).toBe(0);
      expect(one.stdout).toContain('Usage: apikeys rotate <key-id> --grace-period-hours N');
    });
  });

  describe('refuses', () => {
    it('verify exits 3 and prints the reason for a revoked key and for an IP not allowed', async () => {
      const env = adminEnv();
      const revoked = await createKey(env);
      await apikeys(['revoke', revoked.key.id], { env });
      const denied = await apikeys(['verify'], { env: { APIKEYS_ADDRESS: server.address }, stdin: revoked.secret });
      expect(denied.code).toBe(3);
      expect(denied.stdout).toMatch(/result\s+DENIED: revoked \(401\)/);
      expect(denied.stdout).toMatch(/message\s+API key tt_admin_\w+… was revoked at/);

      const fenced = await createKey(env, ['--ip', '203.0.113.50']);
      const wrongIp = await apikeys(['verify', '--ip', '198.51.100.7', '--json'], {
        env: { APIKEYS_ADDRESS: server.address },
        stdin: fenced.secret,
      });
      expect(wrongIp.code).toBe(3);
      expect(json(wrongIp) as { denialReason: string; httpStatus: number }).toMatchObject({
        denialReason: 'DENIAL_REASON_IP_NOT_ALLOWED',
        httpStatus: 403,
      });
    });

    it('PERMISSION_DENIED exits 17 with the status name and the server’s message, no stack trace', async () => {
      const run = await apikeys(['list'], { env: adminEnv(undefined, 'mallory', 'member') });
      expect(run.code).toBe(17);
      expect(run.stderr).toBe(
        'apikeys: PERMISSION_DENIED: only users with the Admin or Read-Only Admin role can manage API keys\n',
      );
      expect(run.stdout).toBe('');
    });

    it('NOT_FOUND exits 15', async () => {
      const run = await apikeys(['get', 'key_doesnotexist'], { env: adminEnv() });
      expect(run.code).toBe(15);
      expect(run.stderr).toBe('apikeys: NOT_FOUND: API key "key_doesnotexist" not found in your organization\n');
    });

    it('a server’s validation error exits 13 with its message', async () => {
      const run = await apikeys(['create', '--name', 'x', '--scope', 'tickets:fly'], { env: adminEnv() });
      expect(run.code).toBe(13);
      expect(run.stderr).toMatch(/^apikeys: INVALID_ARGUMENT: Invalid scope in scopes: "tickets:fly"/);
    });

    it('an unreachable server exits 24 (UNAVAILABLE) with a hint', async () => {
      const run = await apikeys(['scopes', '--address', '127.0.0.1:1'], { env: adminEnv() });
      expect(run.code).toBe(24);
      expect(run.stderr).toMatch(/^apikeys: UNAVAILABLE: /);
      expect(run.stderr).toContain('is api-key-service running at 127.0.0.1:1?');
    });

    it.each([
      ['an unknown flag', ['list', '--bogus'], "apikeys: Unknown option '--bogus'"],
      ['an unknown command', ['lsit'], 'apikeys: unknown command "lsit"'],
      ['a missing argument', ['get'], 'apikeys: get needs <key-id>'],
      ['an invalid number', ['list', '--page-size', 'many'], 'apikeys: --page-size must be an integer from 1 to 100'],
      [
        'a bad state before a bad page size',
        ['list', '--state', 'bogus', '--page-size', '0'],
        'apikeys: --state must be',
      ],
      ['an update without changes', ['update', 'key_x'], 'apikeys: nothing to change'],
      ['a rotation without grace period', ['rotate', 'key_x'], 'apikeys: --grace-period-hours is required'],
      ['an unknown role', ['list', '--role', 'owner'], 'apikeys: --role must be admin, read-only-admin or member'],
    ])('a usage error (%s) exits 2 without calling the server', async (_name, args, message) => {
      const run = await apikeys(args, { env: { ...adminEnv(), APIKEYS_ADDRESS: '127.0.0.1:1' } });
      expect(run.code).toBe(2);
      expect(run.stderr.startsWith(message)).toBe(true);
      expect(run.stderr).toContain('--help" for usage');
    });

    it('a missing acting user is a usage error naming every missing setting', async () => {
      const run = await apikeys(['list'], { env: { APIKEYS_ADDRESS: server.address } });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('apikeys: --org is required (or set APIKEYS_ORG)');
      expect(run.stderr).toContain('apikeys: --user is required (or set APIKEYS_USER)');
      expect(run.stderr).toContain('apikeys: --role is required (or set APIKEYS_ROLE)');
    });

    it('an unreadable TLS file exits 1', async () => {
      const run = await apikeys(['scopes', '--ca', '/nonexistent/ca.pem'], { env: adminEnv() });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^apikeys: cannot read --ca file "\/nonexistent\/ca.pem": ENOENT/);
    });
  });
});

describe('apikeys CLI when a replica does not confirm a write [sqlite]', () => {
  const WAIT_MS = 200;
  const server = useTestServer('sqlite', { PROPAGATION_WAIT_MS: String(WAIT_MS) });
  const GHOST = 'ghost-host:4242:abcdef';

  it('says which replica did not confirm, in text and in JSON, and still exits 0', async () => {
    // A live replica (fresh heartbeat) that never applies anything: its row is all writers know of it.
    const now = Date.now();
    await server.app.db('feed_replicas').insert({
      replica_id: GHOST,
      applied_position: 0,
      heartbeat_at: now + 60_000,
      started_at: now,
    });
    const env = {
      APIKEYS_ADDRESS: server.address,
      APIKEYS_ORG: newOrganizationId('cli'),
      APIKEYS_USER: 'alice',
      APIKEYS_ROLE: 'admin',
    };
    const created = json(await apikeys(['create', '--name', 'k', '--scope', 'tickets:read', '--json'], { env })) as {
      key: KeyJson;
    };
    const text = await apikeys(['revoke', created.key.id], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(`\\nNOT confirmed by replica ${GHOST} within \\d+ ms \\(1/2 replicas confirmed; .*\\)\\n$`),
    );
    const viaJson = json(await apikeys(['revoke-user', 'alice', '--json'], { env })) as { propagation: unknown };
    expect(viaJson.propagation).toEqual({
      confirmedReplicas: 1,
      liveReplicas: 2,
      unconfirmedReplicaIds: [GHOST],
      waitMs: expect.any(Number) as number,
      complete: false,
    });
  });
});

describe('apikeys CLI service token', () => {
  // A stand-in KeyAdmin that records the metadata it receives: the token must arrive as
  // `authorization: Bearer …` whether or not the real server checks tokens.
  let server: Server;
  let address: string;
  const received: Metadata[] = [];
  beforeAll(async () => {
    server = new Server();
    const implementation: UntypedServiceImplementation = {
      listScopes: (call: { metadata: Metadata }, callback: (error: null, response: { scopes: [] }) => void) => {
        received.push(call.metadata);
        callback(null, { scopes: [] });
      },
    };
    server.addService(KeyAdminService, implementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error === null ? resolve(bound) : reject(error),
      ),
    );
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => {
    server.forceShutdown();
  });

  it('is read from APIKEYS_TOKEN and sent as authorization: Bearer metadata', async () => {
    const org = newOrganizationId('cli');
    const run = await apikeys(['scopes'], {
      env: {
        APIKEYS_ADDRESS: address,
        APIKEYS_ORG: org,
        APIKEYS_USER: 'alice',
        APIKEYS_ROLE: 'admin',
        APIKEYS_TOKEN: 's3cr3t-token',
      },
    });
    expect(run.code).toBe(0);
    expect(received.at(-1)?.get('authorization')).toEqual(['Bearer s3cr3t-token']);
  });

  it('is not sent when APIKEYS_TOKEN is unset', async () => {
    const org = newOrganizationId('cli');
    const run = await apikeys(['scopes'], {
      env: { APIKEYS_ADDRESS: address, APIKEYS_ORG: org, APIKEYS_USER: 'alice', APIKEYS_ROLE: 'admin' },
    });
    expect(run.code).toBe(0);
    expect(received.at(-1)?.get('authorization')).toEqual([]);
  });

  it('refuses a token that cannot be a header value, without repeating it', async () => {
    const run = await apikeys(['scopes'], {
      env: {
        APIKEYS_ADDRESS: address,
        APIKEYS_ORG: 'o',
        APIKEYS_USER: 'u',
        APIKEYS_ROLE: 'admin',
        APIKEYS_TOKEN: 'two words',
      },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('apikeys: APIKEYS_TOKEN must be visible ASCII characters without spaces\n');
  });
});

describe('apikeys CLI over TLS with service tokens and mutual TLS (real servers) [sqlite]', () => {
  const ADMIN_TOKEN = 'admin-cli-token-0123456789';
  let certificates: TestCertificates;
  let tokenServer: TestServer;
  let mtlsServer: TestServer;
  beforeAll(async () => {
    certificates = createTestCertificates();
    const tls = { TLS_CERT_FILE: certificates.server.cert, TLS_KEY_FILE: certificates.server.key };
    tokenServer = await startTestServer('sqlite', {
      ...tls,
      AUTH_TOKENS: `admin-cli=${createHash('sha256').update(ADMIN_TOKEN).digest('hex')}`,
      ADMIN_CLIENT_IDS: 'admin-cli',
    });
    mtlsServer = await startTestServer('sqlite', {
      ...tls,
      TLS_CLIENT_CA_FILE: certificates.ca.cert,
      ADMIN_CLIENT_IDS: CERTIFICATE_IDENTITIES.spiffe,
    });
  });
  afterAll(async () => {
    await tokenServer.stop();
    await mtlsServer.stop();
    certificates.remove();
  });

  const actorEnv = (address: string): Record<string, string> => ({
    APIKEYS_ADDRESS: address,
    APIKEYS_ORG: newOrganizationId('cli-tls'),
    APIKEYS_USER: 'alice',
    APIKEYS_ROLE: 'admin',
  });

  it('--ca with APIKEYS_TOKEN: the call is authenticated and the audit trail names the token', async () => {
    const env = { ...actorEnv(tokenServer.address), APIKEYS_TOKEN: ADMIN_TOKEN };
    const created = await apikeys(
      ['create', '--name', 'tls', '--scope', 'tickets:read', '--ca', certificates.ca.cert, '--json'],
      {
        env,
      },
    );
    expect(created.code).toBe(0);
    const { key } = json(created) as { key: KeyJson };
    const audit = await apikeys(['audit', '--key-id', key.id, '--ca', certificates.ca.cert], { env });
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(new RegExp(`created\\s+${key.id}\\s+alice \\(admin\\)\\s+admin-cli\\s`));
  });

  it('without APIKEYS_TOKEN the server answers UNAUTHENTICATED: exit 26 with a hint', async () => {
    const run = await apikeys(['scopes', '--ca', certificates.ca.cert], { env: actorEnv(tokenServer.address) });
    expect(run.code).toBe(26);
    expect(run.stderr).toMatch(/^apikeys: UNAUTHENTICATED: caller authentication required/);
    expect(run.stderr).toContain('set APIKEYS_TOKEN');
  });

  it('a plaintext connection to a TLS server fails with UNAVAILABLE: exit 24', async () => {
    const run = await apikeys(['scopes', '--timeout-ms', '3000'], {
      env: { ...actorEnv(tokenServer.address), APIKEYS_TOKEN: ADMIN_TOKEN },
    });
    expect(run.code).toBe(24);
  });

  it('a server certificate the --ca file does not vouch for is refused: exit 24', async () => {
    const run = await apikeys(['scopes', '--ca', certificates.clients.otherCa.cert, '--timeout-ms', '3000'], {
      env: { ...actorEnv(tokenServer.address), APIKEYS_TOKEN: ADMIN_TOKEN },
    });
    expect(run.code).toBe(24);
  });

  it('--ca --cert --key: mutual TLS, the certificate identity is the caller', async () => {
    const env = actorEnv(mtlsServer.address);
    const tlsFlags = [
      '--ca',
      certificates.ca.cert,
      '--cert',
      certificates.clients.spiffe.cert,
      '--key',
      certificates.clients.spiffe.key,
    ];
    const created = await apikeys(['create', '--name', 'mtls', '--scope', 'tickets:read', '--json', ...tlsFlags], {
      env,
    });
    expect(created.code).toBe(0);
    const { key, secret } = json(created) as { key: KeyJson; secret: string };
    const audit = await apikeys(['audit', '--key-id', key.id, '--json', ...tlsFlags], { env });
    expect((json(audit) as { events: { caller: string }[] }).events[0]?.caller).toBe(CERTIFICATE_IDENTITIES.spiffe);
    const verified = await apikeys(['verify', ...tlsFlags], { env, stdin: secret });
    expect(verified.code).toBe(0);
  });

  it('--cert without --key is a usage error', async () => {
    const run = await apikeys(['scopes', '--cert', certificates.clients.spiffe.cert], {
      env: actorEnv(mtlsServer.address),
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('apikeys: --cert and --key must be given together');
  });
});
