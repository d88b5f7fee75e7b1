import type { Knex } from 'knex';

/** Where bulk keys go and who owns them. */
export interface SequenceKeys {
  /** Keys to add. */
  readonly count: number;
  /** Keys are spread over organizations `${organizationPrefix}000000`, …, `perOrganization` keys each. */
  readonly organizationPrefix: string;
  readonly perOrganization: number;
  /** Each organization's keys are spread over users `user-0` … `user-${users - 1}`. */
  readonly users: number;
  /** Create times count up from here (epoch ms); keys live a year. */
  readonly createTime: number;
}

/** Rows per INSERT … SELECT: a few seconds of work each, a bounded undo log. */
const CHUNK = 100_000;

/**
 * Adds `count` active keys to `api_keys` on MariaDB in a few `INSERT … SELECT` statements from the
 * SEQUENCE engine's `seq_<from>_to_<to>` tables, for tests and plans that need a big table quickly (1,000,000
 * rows in well under a minute). Ids and organizations are in insertion order, so only the secret-hash index
 * is written at random.
 */
export async function insertSequenceKeys(db: Knex, keys: SequenceKeys): Promise<void> {
  const yearMs = 365 * 86_400_000;
  for (let from = 1; from <= keys.count; from += CHUNK) {
    const to = Math.min(keys.count, from + CHUNK - 1);
    await db.raw(
      `INSERT INTO api_keys (id, organization_id, name, prefix, secret_hash, scopes, allowed_ips, created_by_user_id,
         created_by_role, create_time, expire_time, update_time, version)
       SELECT CONCAT('key_seq_', ?, LPAD(seq, 8, '0')),
              CONCAT(?, LPAD(seq DIV ?, 6, '0')),
              'bulk key', 'tt_admin_bulk000', UNHEX(SHA2(CONCAT(?, seq), 256)), '["tickets:read"]', '[]',
              CONCAT('user-', seq MOD ?), 'admin', ? + seq, ? + seq, ? + seq, 1
       FROM seq_${from}_to_${to}`,
      [
        keys.organizationPrefix,
        keys.organizationPrefix,
        keys.perOrganization,
        keys.organizationPrefix,
        keys.users,
        keys.createTime,
        keys.createTime + yearMs,
        keys.createTime,
      ],
    );
  }
}
