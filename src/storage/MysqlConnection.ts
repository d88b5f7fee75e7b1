import type { Socket } from 'node:net';

/**
 * The parts of a mysql2 connection (node_modules/mysql2/lib/base/connection.js) the deadlines use. mysql2
 * has no statement or socket timeout of its own once connected: a statement whose answer is lost waits
 * forever and holds its pooled connection with it.
 */
export interface MysqlConnection {
  /** The TCP socket. */
  readonly stream: Socket;
  /** The server's id of this session (`CONNECTION_ID()`, what `KILL` takes); null before the handshake. */
  readonly threadId: number | null;
  /** The command in progress, null while the connection is idle (internal to mysql2, stable since 1.x). */
  readonly _command: unknown;
  query(sql: string, values: readonly unknown[], callback: (error: MysqlError | null, rows?: unknown) => void): unknown;
}

/** An error as mysql2 reports it. */
export interface MysqlError extends Error {
  readonly code?: string;
  readonly errno?: number;
  fatal?: boolean;
}

/**
 * Drops `connection` at once: its socket is destroyed with `error`, which mysql2 hands to the statement in
 * progress (it fails with it instead of waiting) and which marks the connection fatal, so knex's pool
 * validation (`validateConnection` of the mysql2 dialect: `_fatalError`, `stream.destroyed`) disposes of it
 * on its next acquire instead of handing it out again.
 */
export function abandonConnection(connection: MysqlConnection, error: MysqlError): void {
  error.fatal = true;
  connection.stream.destroy(error);
}

/**
 * Gives every statement on `connection` a deadline: when a command is in progress and the socket has been
 * silent (nothing received, nothing sent) for `timeoutMs`, the connection is abandoned and the statement
 * fails with PROTOCOL_SEQUENCE_TIMEOUT (→ UNAVAILABLE). A connection idle in the pool is left alone, however
 * long it idles: the timer fires once and re-arms only with traffic, so nothing is churned.
 */
export function enforceStatementDeadline(connection: MysqlConnection, timeoutMs: number): void {
  connection.stream.setTimeout(timeoutMs);
  connection.stream.on('timeout', () => {
    if (connection._command === null || connection._command === undefined) return;
    const error: MysqlError = Object.assign(
      new Error(`the database did not answer within ${timeoutMs} ms; the connection was dropped`),
      { code: 'PROTOCOL_SEQUENCE_TIMEOUT' },
    );
    abandonConnection(connection, error);
  });
}

/** Runs one statement on a raw mysql2 connection; resolves with what mysql2 returns (rows for a SELECT). */
export function queryConnection(
  connection: MysqlConnection,
  sql: string,
  values: readonly unknown[] = [],
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    connection.query(sql, values, (error, rows) => (error === null ? resolve(rows) : reject(error)));
  });
}
