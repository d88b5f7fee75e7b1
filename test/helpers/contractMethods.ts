/**
 * Every RPC of the contract by fully qualified service name. The names are binding (callers use them);
 * reflection.test.ts checks the generated code and the server's reflection against this list.
 */
export const CONTRACT_METHODS: Readonly<Record<string, readonly string[]>> = {
  'apikeys.v1.KeyAdmin': [
    'CreateKey',
    'GetKey',
    'GetKeyUsage',
    'ListKeys',
    'UpdateKey',
    'RevokeKey',
    'RotateKey',
    'RevokeUserKeys',
    'ListScopes',
    'ListAuditEvents',
    'ReportLeakedKeys',
  ],
  'apikeys.v1.KeyVerifier': ['VerifyKey'],
};
