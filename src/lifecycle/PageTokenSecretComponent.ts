import { randomBytes } from 'node:crypto';

import type { Knex } from 'knex';

import { loadServiceSecret } from '../storage/loadServiceSecret.js';
import type { Component } from './Component.js';

/** The `service_secrets` row holding the page-token key when none is configured. */
const SECRET_NAME = 'page-token';

/**
 * The key page tokens are authenticated with, the same on every replica: PAGE_TOKEN_SECRET when
 * configured, else the one created once in the database (read at start, after the migrations). Secure
 * by default: no configuration is needed for tokens that cannot be forged and work across replicas.
 */
export class PageTokenSecretComponent implements Component {
  private secret: Buffer | null;

  constructor(
    private readonly db: Knex,
    configured: Buffer | null,
  ) {
    this.secret = configured;
  }

  async start(): Promise<void> {
    if (this.secret === null) this.secret = await loadServiceSecret(this.db, SECRET_NAME, () => randomBytes(32));
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  /** The key; throws before start (no listing is served before the gRPC server starts, after this). */
  current(): Buffer {
    if (this.secret === null) throw new Error('the page-token secret is read at start');
    return this.secret;
  }
}
