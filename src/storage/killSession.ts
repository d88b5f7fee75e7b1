import { setTimeout as sleep } from 'node:timers/promises';

import type { Knex } from 'knex';

import { enforceStatementDeadline, type MysqlConnection, type MysqlError, queryConnection } from './MysqlConnection.js';

/** ER_NO_SUCH_THREAD: the session had already ended. */
const NO_SUCH_THREAD = 1094;

/** How often a killed session is looked for until it has gone. */
const POLL_MS = 5;

/** The parts of knex's mysql2 client killSession uses (the ones its own query cancellation uses). */
interface RawConnections {
  acquireRawConnection(): Promise<MysqlConnection>;
  destroyRawConnection(connection: MysqlConnection): Promise<void>;
}

/**
 * Ends the server session `threadId` (`KILL CONNECTION`), rolling back its transaction and releasing its
 * locks, over a fresh connection of its own (outside the pool, which may be exhausted: knex's query
 * cancellation does the same). Closing a session's socket is not enough: the server notices a client that
 * went away only when it next reads or writes, so a statement waiting for a row lock keeps waiting, and
 * keeps the locks its transaction took, until that wait ends. A user may always kill its own sessions.
 * Resolves when done or pointless (the session is gone); rejects when the database cannot be reached within
 * the connect timeout plus `timeoutMs`.
 *
 * `KILL` only marks the session: the server rolls its transaction back and ends it a moment later, in the
 * session's own thread. So this waits until the session has left the process list, and only then resolves:
 * whoever awaits it (a cancelled call, the shutdown that closes the pool) knows the rollback is done.
 */
export async function killSession(db: Knex, threadId: number, timeoutMs: number): Promise<void> {
  const client = db.client as RawConnections;
  const connection = await client.acquireRawConnection();
  try {
    enforceStatementDeadline(connection, timeoutMs);
    await queryConnection(connection, 'KILL CONNECTION ?', [threadId]);
    const deadline = Date.now() + timeoutMs;
    while (await sessionListed(connection, threadId)) {
      if (Date.now() >= deadline) throw new Error(`session ${threadId} was still listed ${timeoutMs} ms after KILL`);
      await sleep(POLL_MS);
    }
  } catch (error) {
    if ((error as MysqlError).errno !== NO_SUCH_THREAD) throw error;
  } finally {
    await client.destroyRawConnection(connection);
  }
}

async function sessionListed(connection: MysqlConnection, threadId: number): Promise<boolean> {
  const rows = (await queryConnection(connection, 'SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = ?', [
    threadId,
  ])) as unknown[];
  return rows.length > 0;
}
