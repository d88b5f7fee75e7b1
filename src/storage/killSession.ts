import type { Knex } from 'knex';

import { enforceStatementDeadline, type MysqlConnection, type MysqlError, queryConnection } from './MysqlConnection.js';

/** ER_NO_SUCH_THREAD: the session had already ended. */
const NO_SUCH_THREAD = 1094;

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
 */
export async function killSession(db: Knex, threadId: number, timeoutMs: number): Promise<void> {
  const client = db.client as RawConnections;
  const connection = await client.acquireRawConnection();
  try {
    enforceStatementDeadline(connection, timeoutMs);
    await queryConnection(connection, 'KILL CONNECTION ?', [threadId]);
  } catch (error) {
    if ((error as MysqlError).errno !== NO_SUCH_THREAD) throw error;
  } finally {
    await client.destroyRawConnection(connection);
  }
}
