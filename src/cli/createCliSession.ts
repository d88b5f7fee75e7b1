import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

import { Client, type Metadata } from '@grpc/grpc-js';

import { createAuthMetadata } from '../client/createAuthMetadata.js';
import { createChannelCredentials, type TlsOption } from '../client/createChannelCredentials.js';
import { type AdminApi, createAdminApi } from './AdminApi.js';
import type { CliContext } from './CliContext.js';
import type { OptionValues } from './Command.js';
import { DEFAULT_ADDRESS, DEFAULT_TIMEOUT_MS } from './globalOptions.js';
import { LocalFailure } from './LocalFailure.js';
import { flag, intOption, stringOption } from './optionValues.js';
import { resolveActor } from './resolveActor.js';
import { UsageError } from './UsageError.js';

/** The process's streams and environment. */
export interface CliIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** A context and how to release it (closes the channel). */
export interface CliSession {
  readonly context: CliContext;
  readonly address: string;
  close(): void;
}

function readPem(values: OptionValues, name: 'ca' | 'cert' | 'key'): Buffer | undefined {
  const path = stringOption(values, name);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new LocalFailure(`cannot read --${name} file ${JSON.stringify(path)}: ${(error as Error).message}`);
  }
}

function tlsOption(values: OptionValues): TlsOption {
  const [ca, cert, key] = [readPem(values, 'ca'), readPem(values, 'cert'), readPem(values, 'key')];
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('--cert and --key must be given together (mutual TLS needs both)');
  }
  if (ca === undefined && cert === undefined) return flag(values, 'tls');
  return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined || key === undefined ? {} : { cert, key }) };
}

function tokenMetadata(token: string | undefined): Metadata {
  try {
    return createAuthMetadata(token);
  } catch {
    // The message must not repeat the token.
    throw new LocalFailure('APIKEYS_TOKEN must be visible ASCII characters without spaces');
  }
}

function isLoopback(address: string): boolean {
  const host = address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Builds the context of one run: flags and environment resolved, the channel opened on first use. */
export function createCliSession(values: OptionValues, io: CliIo): CliSession {
  const address = stringOption(values, 'address') ?? io.env.APIKEYS_ADDRESS ?? DEFAULT_ADDRESS;
  const timeoutMs = intOption(values, 'timeout-ms', 1, 3_600_000) ?? DEFAULT_TIMEOUT_MS;
  const tls = tlsOption(values);
  const token = io.env.APIKEYS_TOKEN;
  const metadata = tokenMetadata(token);
  const err = (text: string): void => void io.stderr.write(`${text}\n`);
  if (token !== undefined && token !== '' && tls === false && !isLoopback(address)) {
    err(`apikeys: warning: sending APIKEYS_TOKEN to ${address} without TLS; use --tls or --ca`);
  }
  let connection: { client: Client; api: AdminApi } | undefined;
  const context: CliContext = {
    json: flag(values, 'json'),
    out: (text) => void io.stdout.write(`${text}\n`),
    err,
    readLine: (prompt) => readFirstLine(io, prompt),
    actor: () => resolveActor(values, io.env),
    api: () => {
      if (connection === undefined) {
        const client = new Client(address, createChannelCredentials(tls));
        connection = { client, api: createAdminApi(client, metadata, timeoutMs) };
      }
      return connection.api;
    },
  };
  return {
    context,
    address,
    close: () => connection?.client.close(),
  };
}

/** The first line of standard input; prompts on stderr when it is a terminal. */
function readFirstLine(io: CliIo, prompt: string): Promise<string | undefined> {
  if ((io.stdin as { isTTY?: boolean }).isTTY === true) io.stderr.write(prompt);
  return new Promise((resolve) => {
    const lines = createInterface({ input: io.stdin, terminal: false });
    let answered = false;
    lines.once('line', (line) => {
      answered = true;
      resolve(line);
      lines.close();
    });
    lines.once('close', () => {
      if (!answered) resolve(undefined);
    });
  });
}
