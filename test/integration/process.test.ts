import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { checkHealth } from '../helpers/healthClient.js';

const TSX = join(process.cwd(), 'node_modules', '.bin', 'tsx');

interface Started {
  child: ChildProcess;
  address: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts `src/main.ts` as its own process, the way `npm start` does, and waits for "listening". */
function startProcess(env: Record<string, string>): Promise<Started> {
  const child = spawn(TSX, ['src/main.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /"address":"([^"]+)"/.exec(output);
      if (match?.[1] !== undefined) resolve({ child, address: match[1], output: () => output, exited });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`exited with ${String(code)} before listening:\n${output}`)));
  });
}

describe('the service process', () => {
  it('starts on the embedded database, serves health, and on SIGTERM goes NOT_SERVING and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apikeys-proc-'));
    const started = await startProcess({ LISTEN_ADDRESS: '127.0.0.1:0', DATABASE_URL: `sqlite:${join(dir, 'k.db')}` });
    expect(await checkHealth(started.address)).toBe('SERVING');
    expect(await checkHealth(started.address, 'apikeys.v1.KeyVerifier')).toBe('SERVING');
    started.child.kill('SIGTERM');
    expect(await started.exited).toBe(0);
    expect(started.output()).toContain('shutting down');
    expect(started.output()).toContain('"msg":"stopped"');
  });

  it('refuses to start with invalid settings, naming every one of them', async () => {
    const child = spawn(TSX, ['src/main.ts'], {
      env: { ...process.env, LISTEN_ADDRESS: 'nope', LOG_LEVEL: 'loud', DEFAULT_KEY_LIFETIME_HOURS: '9000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('LISTEN_ADDRESS');
    expect(stderr).toContain('LOG_LEVEL');
    expect(stderr).toContain('DEFAULT_KEY_LIFETIME_HOURS');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('exits non-zero with one clear message when the database is unreachable', async () => {
    const child = spawn(TSX, ['src/main.ts'], {
      env: {
        ...process.env,
        LISTEN_ADDRESS: '127.0.0.1:0',
        DATABASE_URL: 'mysql://root@127.0.0.1:1/nothing',
        MIGRATE_ON_START: 'true',
        DATABASE_TIMEOUT_MS: '500',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(output).toContain('cannot start');
  });
});
