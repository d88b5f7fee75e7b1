import type { OptionDefinitions } from './Command.js';

/** The default address, as in the service's LISTEN_ADDRESS default. */
export const DEFAULT_ADDRESS = '127.0.0.1:50051';

/** Default deadline of each call. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Flags every command accepts. */
export const GLOBAL_OPTIONS: OptionDefinitions = {
  address: { type: 'string' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** Flags of commands that act for a user of an organization. */
export const ACTOR_OPTIONS: OptionDefinitions = {
  org: { type: 'string' },
  user: { type: 'string' },
  role: { type: 'string' },
};

/** Help text for the global and actor flags and the environment. */
export const GLOBAL_HELP = `Connection (every command):
  --address HOST:PORT   the service (default: $APIKEYS_ADDRESS, else ${DEFAULT_ADDRESS})
  --tls                 use TLS, trusting the system's CA certificates
  --ca FILE             use TLS, trusting this CA certificate (PEM)
  --cert FILE --key FILE
                        client certificate and private key (PEM) for mutual TLS
  --timeout-ms N        deadline of each call in milliseconds (default ${DEFAULT_TIMEOUT_MS})
  --json                print the response as JSON (protobuf JSON mapping) for scripts
  -h, --help            help; \`apikeys <command> --help\` for one command

Acting user (every command except verify; required, flags override the environment):
  --org ID              organization id (default: $APIKEYS_ORG)
  --user ID             acting user id (default: $APIKEYS_USER)
  --role ROLE           admin, read-only-admin or member (default: $APIKEYS_ROLE)

Environment:
  APIKEYS_TOKEN         service token, sent as "authorization: Bearer <token>" metadata. Read from the
                        environment only, never from a flag, so it stays out of shell history and ps.
  APIKEYS_ADDRESS, APIKEYS_ORG, APIKEYS_USER, APIKEYS_ROLE   defaults of the flags above`;
