import type { KeyVerifierServer, WatchKeyChangesResponse } from '../../gen/apikeys/v1/api_keys.js';
import { AppError, invalidArgument } from '../domain/AppError.js';
import { clientAddress } from '../domain/clientAddress.js';
import type { Clock } from '../domain/Clock.js';
import type { KeyWatchers, WatchEvent } from '../domain/KeyWatchers.js';
import type { LastUsedRecorder } from '../domain/LastUsedRecorder.js';
import type { ClientCacheLimits } from './cacheEntryToProto.js';
import { msFromTimestamp } from './convert.js';
import { createCallPipeline, type ServiceOptions } from './pipeline/createCallPipeline.js';

/** Most uses one ReportKeyUse call may carry. */
export const MAX_KEY_USES_PER_REPORT = 1000;

/** What the client-cache methods (WatchKeyChanges, ReportKeyUse, `include_cache_entry`) need. */
export interface ClientCacheSupport {
  readonly watchers: KeyWatchers;
  readonly lastUsed: Pick<LastUsedRecorder, 'record'>;
  readonly clock: Clock;
  readonly limits: ClientCacheLimits;
  /** A watcher with more messages queued unread is disconnected (RESOURCE_EXHAUSTED). */
  readonly maxBufferedMessages: number;
}

/**
 * KeyVerifier's methods for client-side caches (issue 15): WatchKeyChanges and ReportKeyUse. Without
 * `clientCache` (a process that does not serve them) both answer UNAVAILABLE.
 */
export function createClientCacheMethods(
  options: ServiceOptions,
  clientCache: ClientCacheSupport | undefined,
): Pick<KeyVerifierServer, 'watchKeyChanges' | 'reportKeyUse'> {
  const pipeline = createCallPipeline(options);
  // A watch stream lasts as long as its caller keeps it: no default deadline (connection age ends it; the
  // server interceptor bounds only the arrival of its request, see arrivalBounds in server.ts).
  const watchPipeline = createCallPipeline({ ...options, defaultDeadlineMs: undefined });
  return {
    watchKeyChanges: watchPipeline.serverStreaming<unknown, WatchKeyChangesResponse>(
      '/apikeys.v1.KeyVerifier/WatchKeyChanges',
      (_request, _context, responses) => {
        if (clientCache === undefined) {
          throw new AppError('UNAVAILABLE', 'WatchKeyChanges is not served by this process');
        }
        const { watchers, maxBufferedMessages } = clientCache;
        return new Promise<void>((resolve, reject) => {
          const unsubscribe = watchers.subscribe({
            send(event) {
              if (!responses.open) return true;
              if (responses.buffered >= maxBufferedMessages) return false;
              responses.write(watchEventToProto(event));
              return true;
            },
            disconnect(reason) {
              reject(
                reason === 'slow'
                  ? new AppError(
                      'RESOURCE_EXHAUSTED',
                      `watcher disconnected: more than ${maxBufferedMessages} messages unread (WATCH_MAX_BUFFERED_MESSAGES); reconnect and read faster`,
                    )
                  : new AppError('UNAVAILABLE', 'the server is stopping; reconnect to another replica'),
              );
            },
          });
          if (unsubscribe === null) {
            reject(new AppError('UNAVAILABLE', 'the server is stopping; reconnect to another replica'));
            return;
          }
          responses.signal.addEventListener('abort', () => {
            unsubscribe();
            resolve();
          });
        });
      },
    ),
    reportKeyUse: pipeline.unary('/apikeys.v1.KeyVerifier/ReportKeyUse', (request) => {
      if (clientCache === undefined) {
        throw new AppError('UNAVAILABLE', 'ReportKeyUse is not served by this process');
      }
      if (request.uses.length > MAX_KEY_USES_PER_REPORT) {
        throw invalidArgument(`uses: at most ${MAX_KEY_USES_PER_REPORT} entries allowed, got ${request.uses.length}`);
      }
      const now = clientCache.clock.now();
      for (const [index, use] of request.uses.entries()) {
        if (use.keyId === '' || use.keyId.length > 64)
          throw invalidArgument(`uses[${index}].key_id: required, at most 64 characters`);
        const time = Math.min(msFromTimestamp(use.useTime, `uses[${index}].use_time`) ?? now, now);
        const client = clientAddress(use.clientIp);
        clientCache.lastUsed.record(use.keyId, time, client.kind === 'address' ? client.canonical : null);
      }
      return {};
    }),
  };
}

function watchEventToProto(event: WatchEvent): WatchKeyChangesResponse {
  switch (event.kind) {
    case 'changes':
      return {
        event: {
          $case: 'keysChanged',
          value: {
            changes: event.changes.map((change) => ({
              secretHash: Buffer.from(change.hexDigest, 'hex'),
              keyVersion: change.keyVersion,
            })),
          },
        },
      };
    case 'heartbeat':
      return {
        event: {
          $case: 'heartbeat',
          value: {
            intervalMs: event.intervalMs,
            feedAgeMs: event.feedAgeMs,
            stalenessBoundMs: event.stalenessBoundMs,
          },
        },
      };
    case 'reset':
      return { event: { $case: 'reset', value: { reason: event.reason } } };
  }
}
