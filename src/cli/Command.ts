import type { ParseArgsConfig } from 'node:util';

import type { CliContext } from './CliContext.js';

/** Option definitions of one command, as node:util parseArgs takes them. */
export type OptionDefinitions = NonNullable<ParseArgsConfig['options']>;

/** Parsed option values. */
export type OptionValues = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

/** What a command receives. */
export interface CommandInput {
  readonly values: OptionValues;
  /** Arguments that are not flags, in order (the command name excluded). */
  readonly positionals: readonly string[];
}

/** One `apikeys` subcommand. */
export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The synopsis after `apikeys`, e.g. `get <key-id>`. */
  readonly synopsis: string;
  /** Help lines for the command's own flags (global flags are listed by `apikeys --help`). */
  readonly details: readonly string[];
  readonly options: OptionDefinitions;
  /** Names of the positional arguments, all required. */
  readonly positionals: readonly string[];
  /** Whether the command acts for a user (needs --org/--user/--role). */
  readonly needsActor: boolean;
  /** Runs the command; resolves with the exit code. */
  run(context: CliContext, input: CommandInput): Promise<number>;
}
