import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { checkHealth } from '../helpers/healthClient.js';
import { runServiceToExit, startServiceProcess } from '../helpers/startProcess.js';

describe('the service process', () => {
  it('starts on the embedded database, serves health, and on SIGTERM goes NOT_SERVING and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apikeys-proc-'));
    const started = await startServiceProcess({
      LISTEN_ADDRESS: '127.0.0.1:0',
      DATABASE_URL: `sqlite:${join(dir, 'k.db')}`,
    });
    expect(await checkHealth(started.address)).toBe('SERVING');
    expect(await checkHealth(started.address, 'apikeys.v1.KeyVerifier')).toBe('SERVING');
    started.child.kill('SIGTERM');
    expect(await started.exited).toBe(0);
    expect(started.output()).toContain('shutting down');
    expect(started.output()).toContain('"msg":"stopped"');
  });

  it('refuses to start with invalid settings, naming every one of them', async () => {
    const { code, stderr } = await runServiceToExit({
      LISTEN_ADDRESS: 'nope',
      LOG_LEVEL: 'loud',
      DEFAULT_KEY_LIFETIME_HOURS: '9000',
    });
    expect(code).toBe(2);
    expect(stderr).toContain('LISTEN_ADDRESS');
    expect(stderr).toContain('LOG_LEVEL');
    expect(stderr).toContain('DEFAULT_KEY_LIFETIME_HOURS');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('exits non-zero with one clear message when the database is unreachable', async () => {
    const { code, stdout } = await runServiceToExit({
      LISTEN_ADDRESS: '127.0.0.1:0',
      DATABASE_URL: 'mysql://root@127.0.0.1:1/nothing',
      MIGRATE_ON_START: 'true',
      DATABASE_TIMEOUT_MS: '500',
    });
    expect(code).toBe(1);
    expect(stdout).toContain('cannot start');
  });
});
