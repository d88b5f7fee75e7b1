import type { Knex } from 'knex';

import { AppError } from '../domain/AppError.js';
import { isMysql } from './isMysql.js';
import { abandonConnection, type MysqlConnection } from './MysqlConnection.js';
import { killSession } from './killSession.js';

/** The pool methods of knex's client (typed `any` by knex). */
interface PoolClient {
  acquireConnection(): Promise<MysqlConnection>;
  releaseConnection(connection: MysqlConnection): Promise<void>;
}

/** How long the session kill of a cancelled transaction may take once connected. */
const KILL_TIMEOUT_MS = 2000;

function cancelled(cause?: unknown): AppError {
  return new AppError('CANCELLED', 'the call was cancelled before its write committed; nothing was changed', {
    cause,
  });
}

/**
 * Runs `work` in a knex transaction that `signal` can cancel. Aborted while waiting for a connection, it
 * rejects at once (the connection is returned when it comes). Aborted while `work` runs on MySQL, its
 * connection is abandoned (the statement in progress fails, the connection is never reused) and the
 * server session is killed, so the server rolls the transaction back and releases its row locks now,
 * not when a lock wait or `wait_timeout` ends; it then rejects with CANCELLED. Once `work` has finished,
 * the commit is left to complete: a write the caller may already see committed is never torn.
 *
 * SQLite's driver is synchronous and local: there only an abort before the transaction starts counts.
 */
export async function runTransaction<T>(
  db: Knex,
  work: (trx: Knex.Transaction) => Promise<T>,
  signal: AbortSignal | undefined,
  config?: Knex.TransactionConfig,
): Promise<T> {
  if (signal === undefined) return db.transaction(work, config);
  if (signal.aborted) throw cancelled(signal.reason);
  if (!isMysql(db)) return db.transaction(work, config);
  const client = db.client as PoolClient;
  const connection = await acquireUnlessAborted(client, signal);
  let committing = false;
  let killed: Promise<void> | undefined;
  let onAbort = (): void => undefined;
  // Rejects the moment the signal aborts while `work` runs, whatever `work` is waiting for.
  const cancelledWhileWorking = new Promise<never>((_resolve, reject) => {
    onAbort = () => {
      if (committing) return;
      abandonConnection(connection, Object.assign(new Error('transaction cancelled'), { code: 'ECANCELED' }));
      const { threadId } = connection;
      killed =
        threadId === null ? Promise.resolve() : killSession(db, threadId, KILL_TIMEOUT_MS).catch(() => undefined);
      reject(cancelled(signal.reason));
    };
  });
  cancelledWhileWorking.catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  const transaction = db.transaction(
    async (trx) => {
      const result = await work(trx);
      committing = true;
      return result;
    },
    { ...config, connection },
  );
  try {
    return await Promise.race([transaction, cancelledWhileWorking]);
  } finally {
    signal.removeEventListener('abort', onAbort);
    // An abandoned transaction fails on its own once its next statement meets the closed connection.
    transaction.catch(() => undefined);
    // Returned only once the server session is gone: closing the pool (shutdown) waits for it.
    await killed;
    await client.releaseConnection(connection);
  }
}

/** A pooled connection, or CANCELLED as soon as `signal` aborts (the connection is released when it comes). */
function acquireUnlessAborted(client: PoolClient, signal: AbortSignal): Promise<MysqlConnection> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(cancelled(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    client
      .acquireConnection()
      .then(
        (connection) => {
          if (signal.aborted) void client.releaseConnection(connection);
          else resolve(connection);
        },
        (error: unknown) => reject(error as Error),
      )
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}
