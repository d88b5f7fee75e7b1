import { hash, timingSafeEqual } from 'node:crypto';

/** A configured service token: the caller identity it stands for and the SHA-256 digest of the token. */
export interface ServiceTokenDigest {
  readonly name: string;
  /** 32 bytes; the token itself is never known to the service. */
  readonly sha256: Buffer;
}

/**
 * The service tokens callers may present. Only their SHA-256 digests are held; a presented token is
 * hashed and compared with every digest in constant time, so neither the position of a mismatch nor
 * which (or whether any) configured token matched shows in the time taken. Nothing here keeps or logs
 * a presented token.
 */
export class ServiceTokens {
  private readonly digests: readonly Buffer[];
  private readonly names: readonly string[];

  constructor(tokens: readonly ServiceTokenDigest[]) {
    for (const token of tokens) {
      if (token.sha256.length !== 32) throw new TypeError(`the digest of token "${token.name}" is not 32 bytes`);
    }
    // Copies, so a caller mutating its buffers later cannot change what is accepted.
    this.digests = tokens.map((token) => Buffer.from(token.sha256));
    this.names = tokens.map((token) => token.name);
  }

  /** How many tokens are configured. */
  get size(): number {
    return this.digests.length;
  }

  /** The name of the configured token equal to `token`, or undefined. */
  identify(token: string): string | undefined {
    // One-shot hashing: about a third cheaper than createHash() on the hot path.
    const digest = hash('sha256', token, 'buffer');
    let match = -1;
    // No early exit: every digest is compared, whether or not an earlier one matched.
    for (let index = 0; index < this.digests.length; index++) {
      const equal = timingSafeEqual(digest, this.digests[index] as Buffer);
      match = equal ? index : match;
    }
    return match < 0 ? undefined : this.names[match];
  }
}
