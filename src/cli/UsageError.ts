/** A mistake in the command line: printed with a hint to `--help`, exit code 2, never a stack trace. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
