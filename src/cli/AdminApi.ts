import type { CallOptions, ClientUnaryCall, Metadata, ServiceError } from '@grpc/grpc-js';

import type {
  CreateKeyRequest,
  CreateKeyResponse,
  GetKeyRequest,
  GetKeyResponse,
  KeyAdminClient,
  KeyVerifierClient,
  ListAuditEventsRequest,
  ListAuditEventsResponse,
  ListKeysRequest,
  ListKeysResponse,
  ListScopesRequest,
  ListScopesResponse,
  RevokeKeyRequest,
  RevokeKeyResponse,
  RevokeUserKeysRequest,
  RevokeUserKeysResponse,
  RotateKeyRequest,
  RotateKeyResponse,
  UpdateKeyRequest,
  UpdateKeyResponse,
  VerifyKeyRequest,
  VerifyKeyResponse,
} from '../../gen/apikeys/v1/api_keys.js';

/** KeyAdmin and KeyVerifier with promise-returning methods. */
export interface AdminApi {
  createKey(request: CreateKeyRequest): Promise<CreateKeyResponse>;
  getKey(request: GetKeyRequest): Promise<GetKeyResponse>;
  listKeys(request: ListKeysRequest): Promise<ListKeysResponse>;
  updateKey(request: UpdateKeyRequest): Promise<UpdateKeyResponse>;
  revokeKey(request: RevokeKeyRequest): Promise<RevokeKeyResponse>;
  rotateKey(request: RotateKeyRequest): Promise<RotateKeyResponse>;
  revokeUserKeys(request: RevokeUserKeysRequest): Promise<RevokeUserKeysResponse>;
  listScopes(request: ListScopesRequest): Promise<ListScopesResponse>;
  listAuditEvents(request: ListAuditEventsRequest): Promise<ListAuditEventsResponse>;
  verifyKey(request: VerifyKeyRequest): Promise<VerifyKeyResponse>;
}

type Start<Res> = (
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/**
 * Wraps the generated clients: every call carries `metadata` (the service token) and its own deadline
 * of `timeoutMs`, and rejects with the grpc-js ServiceError.
 */
export function createAdminApi(
  admin: KeyAdminClient,
  verifier: KeyVerifierClient,
  metadata: Metadata,
  timeoutMs: number,
): AdminApi {
  const unary = <Res>(start: Start<Res>): Promise<Res> =>
    new Promise((resolve, reject) => {
      start(metadata.clone(), { deadline: Date.now() + timeoutMs }, (error, response) =>
        error === null ? resolve(response) : reject(error),
      );
    });
  return {
    createKey: (request) => unary((md, options, done) => admin.createKey(request, md, options, done)),
    getKey: (request) => unary((md, options, done) => admin.getKey(request, md, options, done)),
    listKeys: (request) => unary((md, options, done) => admin.listKeys(request, md, options, done)),
    updateKey: (request) => unary((md, options, done) => admin.updateKey(request, md, options, done)),
    revokeKey: (request) => unary((md, options, done) => admin.revokeKey(request, md, options, done)),
    rotateKey: (request) => unary((md, options, done) => admin.rotateKey(request, md, options, done)),
    revokeUserKeys: (request) => unary((md, options, done) => admin.revokeUserKeys(request, md, options, done)),
    listScopes: (request) => unary((md, options, done) => admin.listScopes(request, md, options, done)),
    listAuditEvents: (request) => unary((md, options, done) => admin.listAuditEvents(request, md, options, done)),
    verifyKey: (request) => unary((md, options, done) => verifier.verifyKey(request, md, options, done)),
  };
}
