import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BUF_CURL_GRPC, runBuf } from '../helpers/bufCurl.js';
import { CONTRACT_METHODS } from '../helpers/contractMethods.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { bufCurlCommands, grpcurlCommands, README_ADDRESS } from '../helpers/readmeCookbook.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';

/** Every service the server answers, and the methods reflection must describe for each. */
const SERVED_METHODS: Readonly<Record<string, readonly string[]>> = {
  ...CONTRACT_METHODS,
  'envoy.service.auth.v3.Authorization': ['Check'],
  'grpc.health.v1.Health': ['Check', 'List', 'Watch'],
  'grpc.reflection.v1.ServerReflection': ['ServerReflectionInfo'],
  'grpc.reflection.v1alpha.ServerReflection': ['ServerReflectionInfo'],
};

/** What a buf curl command asks for, in the terms a grpcurl command uses. */
function requestOf(args: readonly string[]): { target: string; body?: string } {
  const url = args[args.length - 1] ?? '';
  const data = args.indexOf('-d');
  const body = data === -1 ? undefined : args[data + 1];
  if (args.includes('--list-services')) return { target: 'list' };
  if (args.includes('--list-methods')) return { target: 'list-methods' };
  return { target: url.slice(`http://${README_ADDRESS}/`.length), ...(body !== undefined ? { body } : {}) };
}

function parseJson(stdout: string, command: string): Record<string, unknown> {
  try {
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`${command}: not one JSON object:\n${stdout}`);
  }
}

describe('the README buf curl block', () => {
  it('makes exactly the requests of the grpcurl block, in the same order', () => {
    const fromGrpcurl = grpcurlCommands().flatMap((command) =>
      command.target.startsWith('describe ')
        ? []
        : [{ target: command.target, ...(command.body !== undefined ? { body: command.body } : {}) }],
    );
    const fromBuf = bufCurlCommands().map((command) => requestOf(command.args));
    expect(fromBuf.filter((request) => request.target !== 'list-methods')).toEqual(fromGrpcurl);
    // `describe` has no buf curl twin; listing every method stands in for it.
    expect(fromBuf.map((request) => request.target)).toContain('list-methods');
    for (const command of bufCurlCommands()) {
      expect(command.args.slice(0, BUF_CURL_GRPC.length)).toEqual([...BUF_CURL_GRPC]);
      expect(command.args.at(-1)).toMatch(new RegExp(`^http://${README_ADDRESS.replaceAll('.', '\\.')}(/|$)`));
    }
  });
});

describeEachDatabase('the README cookbook, run by a Go reflection client (buf curl)', (kind) => {
  let server: TestServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer(kind);
    base = `http://${server.address}`;
  });
  afterAll(async () => {
    await server.stop();
  });

  const curl = (args: readonly string[], input = '') => runBuf([...BUF_CURL_GRPC, ...args], input);

  it('runs every command word for word, in order, and each one succeeds', async () => {
    const values = { secret: '', keyId: '' };
    for (const command of bufCurlCommands()) {
      const args = command.args.map((word) =>
        word
          .replaceAll(`http://${README_ADDRESS}`, base)
          .replaceAll('tt_admin_…', values.secret)
          .replaceAll('key_…', values.keyId),
      );
      const result = await runBuf(args);
      expect(result.stderr, command.text).toBe('');
      expect(result.code, `${command.text}\n${result.stderr}`).toBe(0);
      const { target } = requestOf(command.args);
      if (target === 'list') {
        expect(result.stdout.trim().split('\n').sort()).toEqual(Object.keys(SERVED_METHODS).sort());
        continue;
      }
      if (target === 'list-methods') {
        const listed = result.stdout.trim().split('\n').sort();
        const expected = Object.entries(SERVED_METHODS).flatMap(([service, methods]) =>
          methods.map((m) => `${service}/${m}`),
        );
        expect(listed).toEqual(expected.sort());
        continue;
      }
      const response = parseJson(result.stdout, command.text);
      if (target.endsWith('/CreateKey')) {
        values.secret = response.secret as string;
        values.keyId = (response.key as { id: string }).id;
      }
      if (target.endsWith('/VerifyKey')) expect(response).toMatchObject({ valid: true, httpStatus: 200 });
      if (target.endsWith('/Check')) expect(response).toEqual({ status: 'SERVING' });
    }
    expect(values.secret).toMatch(/^tt_admin_/);
  });

  it('calls the methods the cookbook does not: Health/List, Health/Watch and reflection itself', async () => {
    const list = await curl([`${base}/grpc.health.v1.Health/List`]);
    expect(list.code, list.stderr).toBe(0);
    expect(parseJson(list.stdout, 'List')).toMatchObject({
      statuses: { 'apikeys.v1.KeyAdmin': { status: 'SERVING' } },
    });

    // Watch streams until cancelled: the first status arrives, then buf's own timeout ends the call.
    const watch = await runBuf([
      '--timeout',
      '2s',
      ...BUF_CURL_GRPC,
      '-d',
      '{"service": "apikeys.v1.KeyVerifier"}',
      `${base}/grpc.health.v1.Health/Watch`,
    ]);
    expect(watch.stdout).toContain('"status": "SERVING"');

    for (const version of ['v1', 'v1alpha']) {
      const reflection = await curl(
        ['-d', '@-', `${base}/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`],
        '{"list_services": ""} {"file_containing_symbol": "apikeys.v1.Nope"}',
      );
      expect(reflection.code, reflection.stderr).toBe(0);
      expect(reflection.stdout).toContain('"name": "apikeys.v1.KeyVerifier"');
      expect(reflection.stdout).toMatch(/"errorCode": 5,\s+"errorMessage": "symbol \\"apikeys.v1.Nope\\" not found"/);
    }
  });

  it('works the same through the older v1alpha reflection protocol', async () => {
    const methods = await curl(['--reflect-protocol', 'grpc-v1alpha', '--list-methods', base]);
    expect(methods.code, methods.stderr).toBe(0);
    expect(methods.stdout).toContain('apikeys.v1.KeyVerifier/VerifyKey');
    const verify = await curl([
      '--reflect-protocol',
      'grpc-v1alpha',
      '-d',
      '{"key": "tt_admin_nope"}',
      `${base}/apikeys.v1.KeyVerifier/VerifyKey`,
    ]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(parseJson(verify.stdout, 'VerifyKey')).toMatchObject({
      denialReason: 'DENIAL_REASON_MALFORMED',
      httpStatus: 401,
    });
  });

  it('fails clearly for a service the server does not have', async () => {
    const result = await curl(['-d', '{}', `${base}/apikeys.v1.Nope/Call`]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('apikeys.v1.Nope');
  });
});
