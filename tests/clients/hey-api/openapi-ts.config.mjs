// @hey-api/openapi-ts: an SDK (one function per operationId) and the fetch client, generated
// from the committed spec into generated/ at test time by tests/api/clients.rs. Imports end in
// `.js`, so the compiled SDK runs in Node as plain ES modules, without a bundler.
export default {
  input: '../../../openapi/openapi.yaml',
  output: { path: 'generated', module: { extension: '.js' }, tsConfigPath: './tsconfig.json' },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
};
