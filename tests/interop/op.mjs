// An upstream OpenID provider for tests/api/providers.rs: the certified `oidc-provider`
// package on loopback, with one confidential client for Gatehouse. Interactions sign in
// whichever account the test chose with `POST /_test/next-account` (no login form), then
// grant consent, so the test drives the full code flow with plain HTTP requests.
//
// Env: CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma-separated), PORT (default: any free
// one). Prints `READY <port>`. Every start signs with a fresh key, so a restart on the same
// port is the issuer rotating its keys.
import http from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: `k-${Date.now()}` };

const accounts = new Map();
let next = null;

const server = http.createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: process.env.REDIRECT_URIS.split(','),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'picture'],
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/_test/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const claims = accounts.get(id);
      if (!claims) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...claims }; } };
    },
    pkce: { required: () => true },
    jwks: { keys: [signingKey] },
    cookies: { keys: ['test-only-cookie-key'] },
  });
  // Loopback over plain HTTP is fine for a test provider; silence its production warnings.
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    try {
      if (req.method === 'POST' && req.url === '/_test/next-account') {
        let body = '';
        for await (const chunk of req) body += chunk;
        const { sub, ...claims } = JSON.parse(body);
        accounts.set(sub, claims);
        next = sub;
        res.writeHead(204).end();
        return;
      }
      if (req.url.startsWith('/_test/interaction/')) {
        const details = await provider.interactionDetails(req, res);
        if (details.prompt.name === 'login') {
          await provider.interactionFinished(req, res, { login: { accountId: next } }, { mergeWithLastSubmission: false });
          return;
        }
        const { prompt: { details: missing }, params, session: { accountId } } = details;
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId, clientId: params.client_id });
        if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
        if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
        return;
      }
      callback(req, res);
    } catch (err) {
      console.error(err);
      res.writeHead(500).end(String(err));
    }
  });
  console.log(`READY ${port}`);
});
