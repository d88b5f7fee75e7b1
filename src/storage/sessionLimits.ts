import { type MysqlConnection, type MysqlError, queryConnection } from './MysqlConnection.js';

/** ER_UNKNOWN_SYSTEM_VARIABLE: MySQL has no `idle_write_transaction_timeout`. */
const UNKNOWN_VARIABLE = 1193;

/**
 * Seconds a statement may wait for a row lock: at least 0.5 s less than the statement deadline, so a
 * legitimate lock wait ends with the server's clean ER_LOCK_WAIT_TIMEOUT (→ UNAVAILABLE, the connection
 * stays usable) before the client gives up on the silent socket and drops the connection.
 */
export function lockWaitSeconds(statementTimeoutMs: number): number {
  return Math.max(1, Math.floor((statementTimeoutMs - 500) / 1000));
}

/**
 * Limits that keep one session from holding others up, set once per new pooled connection: the row-lock
 * wait above, and on MariaDB `idle_write_transaction_timeout`, so a transaction whose client froze between
 * two statements (SIGSTOP, a lost network) is aborted by the server and its row locks released, instead of
 * being held until `wait_timeout` (8 hours). Our transactions send their statements back to back; idling
 * for a whole statement deadline inside one means the client is gone.
 */
export async function applySessionLimits(connection: MysqlConnection, statementTimeoutMs: number): Promise<void> {
  await queryConnection(connection, 'SET SESSION innodb_lock_wait_timeout = ?', [lockWaitSeconds(statementTimeoutMs)]);
  try {
    await queryConnection(connection, 'SET SESSION idle_write_transaction_timeout = ?', [
      Math.ceil(statementTimeoutMs / 1000),
    ]);
  } catch (error) {
    if ((error as MysqlError).errno !== UNKNOWN_VARIABLE) throw error;
  }
}
