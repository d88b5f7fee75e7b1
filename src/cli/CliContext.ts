import type { Actor } from '../../gen/apikeys/v1/api_keys.js';
import type { AdminApi } from './AdminApi.js';

/** What a command may use: output, the acting user, the service. */
export interface CliContext {
  /** `--json` was given. */
  readonly json: boolean;
  /** Writes a line (or lines) to standard output. */
  out(text: string): void;
  /** Writes a line to standard error (warnings, hints). */
  err(text: string): void;
  /** Reads the first line of standard input (for secrets that must not be flags). */
  readLine(prompt: string): Promise<string | undefined>;
  /** The acting user from --org/--user/--role or the environment; UsageError when incomplete. */
  actor(): Actor;
  /** The service, connected on first use. */
  api(): AdminApi;
}
