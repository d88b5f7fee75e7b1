import { readFileSync } from 'node:fs';

/** One request of the README's grpcurl cookbook. */
export interface GrpcurlCommand {
  readonly text: string;
  /** `list`, `describe X` or `service/Method`. */
  readonly target: string;
  readonly body?: string;
}

/** One command of the README's buf curl block, as the words a shell would pass to `npx`. */
export interface BufCurlCommand {
  readonly text: string;
  /** Everything after `npx buf`, e.g. `['curl', '--protocol', 'grpc', …, 'http://127.0.0.1:50051/…']`. */
  readonly args: readonly string[];
}

/** The address every README command is written against. */
export const README_ADDRESS = '127.0.0.1:50051';

function section(): string {
  const readme = readFileSync('README.md', 'utf8');
  return readme.slice(
    readme.indexOf('## Try it with grpcurl'),
    readme.indexOf('\n## ', readme.indexOf('## Try it with grpcurl') + 1),
  );
}

/** The shell blocks of the cookbook section, in order, continuation lines joined. */
function shellBlocks(): string[] {
  return [...section().matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => (match[1] ?? '').replace(/\\\n\s*/g, ' '));
}

/** The grpcurl commands of the README's cookbook, continuation lines joined, in order. */
export function grpcurlCommands(): GrpcurlCommand[] {
  const block = shellBlocks()[0] ?? '';
  const pattern = /grpcurl -plaintext(?: -d '([\s\S]*?)')?\s+127\.0\.0\.1:50051 ([^\n]+)/g;
  return [...block.matchAll(pattern)].map((match) => ({
    text: match[0],
    target: match[2]!.trim(),
    ...(match[1] !== undefined ? { body: match[1] } : {}),
  }));
}

/**
 * Splits shell text into words the way sh does for what the README uses: blanks separate words,
 * single quotes keep everything up to the next quote, `#` at the start of a word starts a comment,
 * a newline ends a command.
 */
function shellCommands(text: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '#' && word === null) {
      i = text.indexOf('\n', i) - 1;
      if (i < 0) break;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (word !== null) words.push(word);
      word = null;
      if (c === '\n' && words.length > 0) {
        commands.push(words);
        words = [];
      }
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  if (words.length > 0) commands.push(words);
  return commands;
}

/** The `npx buf curl` commands of the README's second cookbook block, in order. */
export function bufCurlCommands(): BufCurlCommand[] {
  const block = shellBlocks()[1] ?? '';
  return shellCommands(block).map((words) => {
    if (words[0] !== 'npx' || words[1] !== 'buf' || words[2] !== 'curl')
      throw new Error(`not a buf curl command in the README: ${words.join(' ')}`);
    return { text: words.join(' '), args: words.slice(2) };
  });
}
