import type { Command } from './Command.js';
import { EXIT_CODE_HELP } from './exitCodes.js';
import { GLOBAL_HELP } from './globalOptions.js';

/** `apikeys --help`. */
export function generalHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return `apikeys: manage and verify TopTickets API keys through api-key-service (gRPC)

Usage: apikeys <command> [arguments] [flags]

Commands:
${commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n')}

${GLOBAL_HELP}

Output: human-readable tables by default; --json prints the response for scripts. Errors go to
standard error as "STATUS_NAME: the service's message".

Exit codes:
${EXIT_CODE_HELP}

Examples:
  export APIKEYS_ORG=2ce9a473-3578-422f-82a8-afa17eabe88f APIKEYS_USER=alice APIKEYS_ROLE=admin
  apikeys create --name "Zendesk Sync - Production" --scope tickets:read,comments:read --ip 203.0.113.50
  apikeys list --state active
  apikeys revoke key_… --reason "leaked in a CI log"
  printenv API_KEY | apikeys verify --ip 203.0.113.50 --scope tickets:read

Run "apikeys <command> --help" for the flags of one command.`;
}

/** `apikeys <command> --help`. */
export function commandHelp(command: Command): string {
  const lines = [`Usage: apikeys ${command.synopsis}`, '', command.summary];
  if (command.details.length > 0) lines.push('', ...command.details.map((line) => `  ${line}`));
  lines.push(
    '',
    `Global flags: --address, --tls, --ca, --cert, --key, --timeout-ms, --json${
      command.needsActor ? ', and the acting user --org, --user, --role' : ''
    }.`,
    'See "apikeys --help" for them, the environment variables and the exit codes.',
  );
  return lines.join('\n');
}
