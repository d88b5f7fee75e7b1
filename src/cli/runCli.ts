import { parseArgs } from 'node:util';

import type { ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';

import type { Command, OptionValues } from './Command.js';
import { COMMANDS } from './commands/index.js';
import { createCliSession, type CliIo, type CliSession } from './createCliSession.js';
import { EXIT, exitCodeForStatus, STATUS_NAMES } from './exitCodes.js';
import { ACTOR_OPTIONS, GLOBAL_OPTIONS } from './globalOptions.js';
import { commandHelp, generalHelp } from './helpText.js';
import { LocalFailure } from './LocalFailure.js';
import { UsageError } from './UsageError.js';

function isServiceError(error: unknown): error is ServiceError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ServiceError>).code === 'number' &&
    typeof (error as Partial<ServiceError>).details === 'string'
  );
}

/** A hint for the statuses a person can fix from here. */
function hintFor(code: status, session: CliSession | undefined): string {
  if (code === status.UNAVAILABLE) {
    return `\n  is api-key-service running at ${session?.address ?? '?'}? set --address or APIKEYS_ADDRESS (TLS: --tls, --ca)`;
  }
  if (code === status.UNAUTHENTICATED) return '\n  set APIKEYS_TOKEN to a service token the server accepts';
  if (code === status.DEADLINE_EXCEEDED)
    return '\n  the service did not answer in time; raise --timeout-ms or try again';
  return '';
}

function parse(command: Command, args: readonly string[]): { values: OptionValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { ...GLOBAL_OPTIONS, ...(command.needsActor ? ACTOR_OPTIONS : {}), ...command.options },
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (error) {
    // parseArgs' own messages are clear; keep their first sentence.
    throw new UsageError((error as Error).message.split('. ')[0] ?? 'invalid arguments');
  }
}

function checkPositionals(command: Command, positionals: readonly string[]): void {
  const expected = command.positionals;
  if (positionals.length < expected.length) {
    throw new UsageError(`${command.name} needs ${expected.map((name) => `<${name}>`).join(' ')}`);
  }
  if (positionals.length > expected.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[expected.length])}`);
  }
}

/**
 * Runs one `apikeys` invocation and resolves with its exit code. Never throws: every failure is printed
 * as one line (usage mistakes with a pointer to --help, RPC failures as "STATUS: message").
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const print = (stream: NodeJS.WritableStream, text: string): void => void stream.write(`${text}\n`);
  const [name, ...args] = argv;
  if (name === undefined) {
    print(io.stderr, generalHelp(COMMANDS));
    return EXIT.USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = COMMANDS.find((command) => command.name === args[0]);
    print(io.stdout, topic === undefined ? generalHelp(COMMANDS) : commandHelp(topic));
    return EXIT.OK;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  let session: CliSession | undefined;
  try {
    if (command === undefined) {
      throw new UsageError(
        name.startsWith('-')
          ? `the command comes first: apikeys <command> [flags] (got ${JSON.stringify(name)})`
          : `unknown command ${JSON.stringify(name)}; commands: ${COMMANDS.map((c) => c.name).join(', ')}`,
      );
    }
    const { values, positionals } = parse(command, args);
    if (values.help === true) {
      print(io.stdout, commandHelp(command));
      return EXIT.OK;
    }
    checkPositionals(command, positionals);
    session = createCliSession(values, io);
    if (command.needsActor) session.context.actor();
    return await command.run(session.context, { values, positionals });
  } catch (error) {
    if (error instanceof UsageError) {
      for (const line of error.message.split('\n')) print(io.stderr, `apikeys: ${line}`);
      print(io.stderr, `run "apikeys ${command === undefined ? '' : `${command.name} `}--help" for usage`);
      return EXIT.USAGE;
    }
    if (isServiceError(error)) {
      const statusName = STATUS_NAMES[error.code] ?? `status ${error.code}`;
      // grpc-js appends an empty "Resolution note:" to connection failures.
      const details = error.details.replace(/\s*Resolution note:\s*$/, '');
      print(io.stderr, `apikeys: ${statusName}: ${details}${hintFor(error.code, session)}`);
      return exitCodeForStatus(error.code);
    }
    if (error instanceof LocalFailure) {
      print(io.stderr, `apikeys: ${error.message}`);
      return EXIT.LOCAL_FAILURE;
    }
    print(io.stderr, `apikeys: unexpected error: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.LOCAL_FAILURE;
  } finally {
    session?.close();
  }
}
