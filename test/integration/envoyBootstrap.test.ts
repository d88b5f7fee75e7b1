import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

import { createFileRegistry, fromBinary, fromJson, type JsonValue, toJsonString } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

/** The Envoy protos the example names: the bootstrap and every `@type` inside it. */
const PROTOS = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
];

/** The fenced YAML block under a heading of docs/envoy.md. */
function yamlUnder(heading: string): string {
  const doc = readFileSync('docs/envoy.md', 'utf8');
  const section = doc.slice(doc.indexOf(`\n## ${heading}\n`));
  const match = /```yaml\n([\s\S]*?)```/.exec(section);
  if (match?.[1] === undefined) throw new Error(`no yaml block under "## ${heading}"`);
  return match[1];
}

/** Envoy's protos as @grpc/grpc-js-xds ships them, built by buf into a registry (imports included). */
let registry: ReturnType<typeof buildRegistry> | undefined;
const envoyRegistry = () => (registry ??= buildRegistry());

function buildRegistry() {
  const root = execFileSync('bash', ['scripts/envoyProtoRoot.sh'], { encoding: 'utf8' }).trim();
  try {
    const bytes = execFileSync(
      'node_modules/.bin/buf',
      [
        'build',
        root,
        ...PROTOS.flatMap((proto) => ['--path', `${root}/${proto}`]),
        '--as-file-descriptor-set',
        '-o',
        '-',
      ],
      {
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, BUF_CACHE_DIR: process.env.BUF_CACHE_DIR ?? '/tmp/buf-cache' },
      },
    );
    return createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe('the envoy.yaml of docs/envoy.md', () => {
  it('decodes as an envoy.config.bootstrap.v3.Bootstrap with Envoy’s own protos, every @type resolved', () => {
    const registry = envoyRegistry();
    const bootstrap = registry.getMessage('envoy.config.bootstrap.v3.Bootstrap');
    if (bootstrap === undefined) throw new Error('Bootstrap is not in the built protos');
    const decoded = fromJson(bootstrap, parseYaml(yamlUnder('envoy.yaml')) as JsonValue, { registry });
    // Read back as JSON: the filter's settings are what the page says they are.
    const json = toJsonString(bootstrap, decoded, { registry });
    expect(json).toContain('"@type":"type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"');
    expect(json).toContain('"grpcService":{"envoyGrpc":{"clusterName":"api_key_service"},"timeout":"0.250s"');
    expect(json).toContain('"contextExtensions":{"required_scopes":"tickets:read,comments:read"}');
    expect(json).toContain('"statusOnError":{"code":"ServiceUnavailable"}');
    // failure_mode_allow: false is the default, so JSON leaves it out: the YAML must say it anyway.
    expect(yamlUnder('envoy.yaml')).toContain('failure_mode_allow: false');
  });

  it('would refuse a misspelt field, so the check above means something', () => {
    const registry = envoyRegistry();
    const bootstrap = registry.getMessage('envoy.config.bootstrap.v3.Bootstrap');
    if (bootstrap === undefined) throw new Error('Bootstrap is not in the built protos');
    const broken = yamlUnder('envoy.yaml').replace('failure_mode_allow', 'failure_mode_alow');
    expect(() => fromJson(bootstrap, parseYaml(broken) as JsonValue, { registry })).toThrow(/failure_mode_alow/);
  });
});
