// An Express app that uses Gatehouse the passport.js way:
//   - browser users sign in with passport and openid-client's Strategy (authorization code + PKCE),
//     and the session holds `req.user`, as with passport-local before;
//   - `/api/*` is for API callers with a Gatehouse access token: the token is verified locally
//     against the tenant's JWKS with jose (signature, `iss`, `aud`, `exp`), then Gatehouse is asked
//     whether it is still active (RFC 7662 introspection), so a logged-out token stops working at once.
//
// Configuration (environment):
//   GATEHOUSE_ISSUER  the tenant's issuer, e.g. http://127.0.0.1:8080/t/default
//   CLIENT_ID, CLIENT_SECRET  a confidential client of that tenant whose redirect URIs include
//                     {BASE_URL}/callback and whose post-logout redirect URIs include {BASE_URL}/
//   BASE_URL          where this app is reached (default http://127.0.0.1:3000)
//   PORT              listen port (default: the port of BASE_URL)
//   SESSION_SECRET    signs the session cookie (default: random, sessions end on restart)
import { randomBytes } from 'node:crypto';
import express from 'express';
import session from 'express-session';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { Strategy } from 'openid-client/passport';
import passport from 'passport';

const env = (k, fallback) => {
  const v = process.env[k] ?? fallback;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const issuer = new URL(env('GATEHOUSE_ISSUER'));
const baseUrl = new URL(env('BASE_URL', 'http://127.0.0.1:3000'));
const port = Number(env('PORT', baseUrl.port || '3000'));

// Discovery. Plain HTTP is only acceptable for a Gatehouse on your own machine.
const config = await oidc.discovery(
  issuer, env('CLIENT_ID'), env('CLIENT_SECRET'), undefined,
  issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined,
);
const metadata = config.serverMetadata();

// --- Browser sign-in: passport + openid-client's Strategy -------------------------------------
passport.use('gatehouse', new Strategy(
  { config, scope: 'openid profile email', callbackURL: new URL('/callback', baseUrl) },
  (tokens, done) => {
    const claims = tokens.claims();
    // What ends up in req.user. The ID token is kept for RP-initiated logout.
    done(null, { sub: claims.sub, username: claims.preferred_username, email: claims.email, idToken: tokens.id_token });
  },
));
passport.serializeUser((user, done) => done(null, user));
passport.deserializeUser((user, done) => done(null, user));

const app = express();
app.use(session({
  secret: env('SESSION_SECRET', randomBytes(32).toString('hex')),
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, sameSite: 'lax', secure: baseUrl.protocol === 'https:' },
}));
app.use(passport.session());

app.get('/', (req, res) => {
  res.type('html').send(req.user
    ? `<p>Signed in as ${escape(req.user.username)}. <a href="/profile">Profile</a> · <a href="/logout">Sign out</a></p>`
    : '<p><a href="/login">Sign in with Gatehouse</a></p>');
});
app.get('/login', passport.authenticate('gatehouse'));
app.get('/callback', passport.authenticate('gatehouse', { successRedirect: '/', failureRedirect: '/' }));

// A page for signed-in browser users (the session, as with passport-local).
app.get('/profile', (req, res) => {
  if (!req.isAuthenticated()) return res.redirect('/login');
  const { sub, username, email } = req.user;
  res.json({ sub, username, email });
});

// Ends the local session, then the Gatehouse SSO session, which revokes its tokens everywhere.
app.get('/logout', (req, res, next) => {
  const idTokenHint = req.user?.idToken;
  req.logout((err) => {
    if (err) return next(err);
    const url = oidc.buildEndSessionUrl(config, {
      post_logout_redirect_uri: new URL('/', baseUrl).href,
      ...(idTokenHint ? { id_token_hint: idTokenHint } : {}),
    });
    res.redirect(url.href);
  });
});

// --- API: Gatehouse access tokens -----------------------------------------------------------
// The tenant's public keys, fetched once and cached by jose; an unknown `kid` (after a key
// rotation) makes it fetch them again.
const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));

/** Express middleware: `req.auth` = the verified claims of a live Gatehouse access token. */
async function requireAccessToken(req, res, next) {
  const deny = (description) => res
    .status(401)
    .set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${description}"`)
    .json({ error: 'invalid_token', error_description: description });
  const [scheme, token] = (req.get('authorization') ?? '').split(' ');
  if (scheme?.toLowerCase() !== 'bearer' || !token) return deny('a bearer token is required');
  let claims;
  try {
    // Access tokens of a tenant are issued by it and addressed to it (aud = issuer).
    ({ payload: claims } = await jwtVerify(token, jwks, {
      issuer: metadata.issuer, audience: metadata.issuer, typ: 'at+jwt',
    }));
  } catch {
    return deny('the token is invalid or expired');
  }
  // Local verification cannot know about logout; introspection can. Drop this call to trade
  // revocation for one network round trip less (tokens then live until `exp`).
  let introspection;
  try {
    introspection = await oidc.tokenIntrospection(config, token);
  } catch (err) {
    return next(err); // Gatehouse unreachable: fail closed (500), never let the token through.
  }
  if (!introspection.active) return deny('the token has been revoked');
  req.auth = claims;
  next();
}

app.get('/api/whoami', requireAccessToken, (req, res) => {
  res.json({ sub: req.auth.sub, scope: req.auth.scope, client_id: req.auth.client_id ?? null });
});

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

app.listen(port, baseUrl.hostname, () => console.log(`express-passport example listening on ${baseUrl.href}`));
