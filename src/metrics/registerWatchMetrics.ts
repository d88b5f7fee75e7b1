import { Counter, Gauge, type Registry } from 'prom-client';

import type { KeyWatchers } from '../domain/KeyWatchers.js';

/** Metrics of WatchKeyChanges: watchers connected, messages sent by kind, server-side disconnects by reason. */
export function registerWatchMetrics(registry: Registry, watchers: KeyWatchers): void {
  const registers = [registry];
  new Gauge({
    name: 'apikeys_key_watchers',
    help: 'WatchKeyChanges streams connected',
    registers,
    collect() {
      this.set(watchers.size);
    },
  });
  new Counter({
    name: 'apikeys_key_watch_messages_sent_total',
    help: 'WatchKeyChanges messages sent, by kind (changes, heartbeat, reset)',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      for (const [kind, value] of Object.entries(watchers.stats.messagesSent)) this.inc({ kind }, value);
    },
  });
  new Counter({
    name: 'apikeys_key_watch_disconnects_total',
    help: 'WatchKeyChanges streams ended, by reason (slow: too many messages unread; shutdown; client: the caller cancelled or its connection closed)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, value] of Object.entries(watchers.stats.disconnects)) this.inc({ reason }, value);
    },
  });
}
