/** Thrown when the environment is invalid; the message lists every problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
