import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import type { LastUsedEntry } from '../../src/domain/KeyRepository.js';
import { LastUsedRecorder } from '../../src/domain/LastUsedRecorder.js';
import { Gate } from '../helpers/Gate.js';

/** A last-used table that keeps the newest time per key, can fail writes and hold them until released. */
class FakeLastUsedTable extends Gate {
  readonly batches: LastUsedEntry[][] = [];
  readonly rows = new Map<string, LastUsedEntry>();
  failures = 0;

  async recordLastUsed(entries: readonly LastUsedEntry[]): Promise<void> {
    // A write takes at least one turn of the event loop, like a real database round trip.
    await new Promise((resume) => setImmediate(resume));
    await this.pass();
    if (this.failures > 0) {
      this.failures--;
      throw new Error('database unreachable');
    }
    this.batches.push([...entries]);
    for (const entry of entries) {
      const stored = this.rows.get(entry.keyId);
      if (stored === undefined || stored.time < entry.time) this.rows.set(entry.keyId, entry);
    }
  }
}

function recorderOver(table: FakeLastUsedTable, batchSize = 500): LastUsedRecorder {
  return new LastUsedRecorder({
    repository: table,
    logger: pino({ level: 'silent' }),
    flushIntervalMs: 3_600_000,
    batchSize,
  });
}

describe('LastUsedRecorder coalesces observations in memory', () => {
  it('keeps one entry per key, the newest, whatever order they arrive in', async () => {
    const table = new FakeLastUsedTable();
    const recorder = recorderOver(table);
    recorder.record('key_a', 200, '203.0.113.2');
    recorder.record('key_a', 100, '203.0.113.1');
    recorder.record('key_a', 300, '203.0.113.3');
    recorder.record('key_b', 50, '2001:db8::1');
    expect(recorder.pendingCount).toBe(2);
    await recorder.flush();
    expect(table.batches).toEqual([
      [
        { keyId: 'key_a', time: 300, ip: '203.0.113.3' },
        { keyId: 'key_b', time: 50, ip: '2001:db8::1' },
      ],
    ]);
    expect(recorder.pendingCount).toBe(0);
    expect(recorder.stats).toMatchObject({ recorded: 4, flushes: 1, flushErrors: 0, rowsWritten: 2 });
  });

  it('writes in batches of at most batchSize keys', async () => {
    const table = new FakeLastUsedTable();
    const recorder = recorderOver(table, 2);
    for (const id of ['a', 'b', 'c', 'd', 'e']) recorder.record(`key_${id}`, 1, '');
    await recorder.flush();
    expect(table.batches.map((batch) => batch.length)).toEqual([2, 2, 1]);
  });

  it('stores the client IP trimmed, and no IP when the caller sent none or only whitespace', async () => {
    const table = new FakeLastUsedTable();
    const recorder = recorderOver(table);
    recorder.record('key_spaced', 1, '  203.0.113.9\t');
    recorder.record('key_empty', 1, '');
    recorder.record('key_blank', 1, '   ');
    await recorder.flush();
    expect(table.rows.get('key_spaced')?.ip).toBe('203.0.113.9');
    expect(table.rows.get('key_empty')?.ip).toBeNull();
    expect(table.rows.get('key_blank')?.ip).toBeNull();
  });

  it('stores an address canonical and anything that is not an address as no IP', async () => {
    const table = new FakeLastUsedTable();
    const recorder = recorderOver(table);
    recorder.record('key_v6', 1, '2001:0DB8:0:0::1');
    recorder.record('key_secret', 1, 'tt_admin_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789');
    recorder.record('key_long', 1, `203.0.113.9${' '.repeat(62 * 1024)}`);
    await recorder.flush();
    expect(table.rows.get('key_v6')?.ip).toBe('2001:db8::1');
    expect(table.rows.get('key_secret')?.ip).toBeNull();
    expect(table.rows.get('key_long')?.ip).toBeNull();
  });

  it('does nothing when nothing is pending', async () => {
    const table = new FakeLastUsedTable();
    const recorder = recorderOver(table);
    await recorder.flush();
    expect(table.batches).toEqual([]);
    expect(recorder.stats.flushes).toBe(0);
  });
});

describe('LastUsedRecorder loses nothing when a flush fails', () => {
  it('keeps the entries of a failed flush and writes them on the next one', async () => {
    const table = new FakeLastUsedTable();
    const recorder = recorderOver(table);
    recorder.record('key_a', 100, '203.0.113.1');
    table.failures = 1;
    await recorder.flush();
    expect(recorder.stats).toMatchObject({ flushErrors: 1, flushes: 0 });
    expect(recorder.pendingCount).toBe(1);
    expect(table.rows.size).toBe(0);
    await recorder.flush();
    expect(table.rows.get('key_a')).toEqual({ keyId: 'key_a', time: 100, ip: '203.0.113.1' });
    expect(recorder.pendingCount).toBe(0);
  });

  it('prefers an observation made during the failed flush over the one it puts back', async () => {
    const table = new FakeLastUsedTable();
    const recorder = recorderOver(table);
    recorder.record('key_a', 100, '203.0.113.1');
    table.failures = 1;
    table.hold();
    const failing = recorder.flush();
    recorder.record('key_a', 200, '203.0.113.2');
    table.release();
    await failing;
    await recorder.flush();
    expect(table.rows.get('key_a')).toEqual({ keyId: 'key_a', time: 200, ip: '203.0.113.2' });
  });

  it('writes what is pending on stop', async () => {
    const table = new FakeLastUsedTable();
    const recorder = recorderOver(table);
    recorder.start();
    recorder.record('key_a', 100, '');
    await recorder.stop();
    expect(table.rows.has('key_a')).toBe(true);
  });
});

describe('LastUsedRecorder.flush resolves only once what was pending is written', () => {
  it('waits for the write of its own entries when several flushes overlap', async () => {
    const table = new FakeLastUsedTable();
    const recorder = recorderOver(table);
    recorder.record('key_a', 100, '');
    const first = recorder.flush();
    recorder.record('key_b', 200, '');
    const second = recorder.flush();
    const third = recorder.flush();
    const writtenWhenThirdResolved = third.then(() => table.rows.has('key_b'));
    expect(await writtenWhenThirdResolved).toBe(true);
    await Promise.all([first, second]);
  });
});
