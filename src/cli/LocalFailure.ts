/** A failure on this side that is not a usage mistake (e.g. an unreadable TLS file): exit code 1. */
export class LocalFailure extends Error {
  override readonly name = 'LocalFailure';
}
