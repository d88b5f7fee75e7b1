import { AUTH_SETTINGS } from './auth.js';
import { CACHE_AND_FEED_SETTINGS } from './cacheAndFeed.js';
import { DATABASE_SETTINGS } from './database.js';
import { EXT_AUTHZ_SETTINGS } from './extAuthz.js';
import { INSECURE_SETTINGS } from './insecureSetup.js';
import { LISTEN_SETTINGS } from './listen.js';
import { METRICS_SETTINGS } from './metrics.js';
import { PAGE_TOKEN_SETTINGS } from './pageTokens.js';
import { PROPAGATION_SETTINGS } from './propagation.js';
import { SERVICE_SETTINGS } from './service.js';
import { SHUTDOWN_SETTINGS } from './shutdown.js';
import { TLS_SETTINGS } from './tls.js';
import { TRACING_SETTINGS } from './tracing.js';
import { TRANSPORT_LIMIT_SETTINGS } from './transportLimits.js';

/**
 * Every environment variable the service reads, section by section: the one source of their schemas,
 * defaults and documentation (the README's configuration table is checked against it).
 */
export const SETTINGS = {
  ...LISTEN_SETTINGS,
  ...TLS_SETTINGS,
  ...DATABASE_SETTINGS,
  ...SERVICE_SETTINGS,
  ...CACHE_AND_FEED_SETTINGS,
  ...PROPAGATION_SETTINGS,
  ...AUTH_SETTINGS,
  ...PAGE_TOKEN_SETTINGS,
  ...INSECURE_SETTINGS,
  ...METRICS_SETTINGS,
  ...SHUTDOWN_SETTINGS,
  ...TRANSPORT_LIMIT_SETTINGS,
  ...EXT_AUTHZ_SETTINGS,
  ...TRACING_SETTINGS,
};
