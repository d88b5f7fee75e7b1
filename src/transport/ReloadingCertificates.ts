import { experimental } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { Clock } from '../domain/Clock.js';
import type { Component } from '../lifecycle/Component.js';
import { readTlsMaterial, sameTlsMaterial, type TlsMaterial } from './tlsMaterial.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** What a reload did. */
export type ReloadResult = 'unchanged' | 'reloaded' | 'rejected';

/**
 * The server's TLS certificate, key and client CA, re-read from their files on demand (SIGHUP, a timer):
 * new connections get the new material, established ones keep theirs. Unlike grpc-js's own file watcher,
 * a reload that finds a missing, half-written, mismatched or expired set keeps serving the last good one
 * and says why, so a botched rotation never takes TLS down. As a component, it re-reads them every
 * `reloadIntervalMs` while started (0 = only when asked).
 */
export class ReloadingCertificates implements experimental.CertificateProvider, Component {
  readonly stats = { reloads: 0, rejected: 0 };
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private current: TlsMaterial,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly reloadIntervalMs = 0,
  ) {}

  start(): void {
    if (this.reloadIntervalMs <= 0) return;
    this.timer = setInterval(() => this.reload(), this.reloadIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get material(): TlsMaterial {
    return this.current;
  }

  /** Re-reads the files; publishes them to the server only if they changed and are a valid set. */
  reload(): ReloadResult {
    let next: TlsMaterial;
    try {
      next = readTlsMaterial(this.current.files, this.clock.now());
    } catch (error) {
      this.stats.rejected++;
      this.logger.error(
        { reason: (error as Error).message, serving: describe(this.current) },
        'TLS reload refused; still serving the previous certificate',
      );
      return 'rejected';
    }
    if (sameTlsMaterial(next, this.current)) return 'unchanged';
    this.current = next;
    this.stats.reloads++;
    this.publish();
    this.logger.info({ serving: describe(next) }, 'TLS certificate reloaded; new connections use it');
    return 'reloaded';
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // grpc-js subscribes before it registers its own watcher: answer on the next tick, as its providers do.
    process.nextTick(() => listener(this.caUpdate()));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => listener(this.identityUpdate()));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private caUpdate(): experimental.CaCertificateUpdate | null {
    return this.current.clientCa === null ? null : { caCertificate: this.current.clientCa };
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate {
    return { certificate: this.current.certChain, privateKey: this.current.privateKey };
  }

  private publish(): void {
    for (const listener of this.identityListeners) listener(this.identityUpdate());
    for (const listener of this.caListeners) listener(this.caUpdate());
  }
}

function describe(material: TlsMaterial) {
  return {
    subject: material.certificate.subject.replaceAll('\n', ', '),
    serialNumber: material.certificate.serialNumber,
    notAfter: new Date(material.certificate.validTo).toISOString(),
    sha256: material.certificate.fingerprint256,
  };
}
