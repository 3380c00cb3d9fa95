// An OpenID Connect provider on loopback for the sign-in tests (tests/oidc): `oidc-provider` (OpenID certified) with
// four test users, devInteractions' login form (any password; login = the user's id) and no consent screen.
// FOR TESTS ONLY: in-memory storage, development keys, no password check.
//
//   node provider.mjs --port 0 [--client-id ID --client-secret S --redirect-uri URI ...]
//                     [--registration-token T] [--id-token-ttl SECONDS]
//
// Each option may also come from the environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI (comma-separated),
// REGISTRATION_TOKEN, ID_TOKEN_TTL. Port 0 picks a free port. Once listening, it prints one line of JSON to stdout:
//   {"ready": true, "issuer": "http://127.0.0.1:PORT", "port": PORT, "id_token_ttl": N}
// The client from the command line (if any) has the redirect URIs given; with --registration-token, more clients
// can be registered at POST /reg (RFC 7591, "Authorization: Bearer T"): the tests register one per app, whose
// redirect URI is only known once the app has its port.
//
// By hand, to sign in to `make run` (port 8501): in this folder after `make oidc`,
//   node provider.mjs --port 9400 --client-id watchwait --client-secret dev-secret \
//     --redirect-uri http://127.0.0.1:8501/oauth2callback
// and in .streamlit/secrets.toml (gitignored; never commit it):
//   [auth]
//   redirect_uri = "http://127.0.0.1:8501/oauth2callback"
//   cookie_secret = "<a long random string>"
//   client_id = "watchwait"
//   client_secret = "dev-secret"
//   server_metadata_url = "http://127.0.0.1:9400/.well-known/openid-configuration"
//   client_kwargs = { scope = "openid email profile groups" }
// then sign in as chair, clinician, viewer or admin (users.json), any password.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import * as querystring from 'node:querystring';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy } from 'oidc-provider';

// The test users (users.json, read by the Python tests too): the login typed into the form is the id, which is also
// the stable subject (`sub`).
const USERS = JSON.parse(readFileSync(new URL('./users.json', import.meta.url), 'utf8'));

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '0' },
    'client-id': { type: 'string', default: process.env.CLIENT_ID },
    'client-secret': { type: 'string', default: process.env.CLIENT_SECRET },
    'redirect-uri': { type: 'string', multiple: true,
      default: (process.env.REDIRECT_URI ?? '').split(',').filter(Boolean) },
    'registration-token': { type: 'string', default: process.env.REGISTRATION_TOKEN },
    'id-token-ttl': { type: 'string', default: process.env.ID_TOKEN_TTL ?? '3600' },
  },
});

const idTokenTtl = Number.parseInt(args['id-token-ttl'], 10);
if (!(idTokenTtl > 0)) throw new Error(`--id-token-ttl must be a positive number of seconds, not ${args['id-token-ttl']}`);
const redirectUris = args['redirect-uri'];
const clients = [];
if (args['client-id']) {
  if (!args['client-secret'] || redirectUris.length === 0) {
    throw new Error('--client-id needs --client-secret and at least one --redirect-uri');
  }
  clients.push({
    client_id: args['client-id'],
    client_secret: args['client-secret'],
    redirect_uris: redirectUris,
    // st.logout sends the app's /oauth2callback as post_logout_redirect_uri.
    post_logout_redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  });
}

async function findAccount(ctx, id) {
  const user = Object.hasOwn(USERS, id) ? USERS[id] : undefined;
  if (!user) return undefined; // an unknown login signs nobody in
  return {
    accountId: id,
    async claims() {
      return { sub: id, name: user.name, email: user.email, email_verified: true, groups: [...user.groups] };
    },
  };
}

// Streamlit's st.login asks for prompt=select_account (its default). oidc-provider rejects a prompt it has no
// policy for, so the policy knows `select_account` and answers it with the login form: whenever it is asked for,
// the person signs in (chooses the account) again, even with a session at the provider.
const { base, Prompt, Check } = interactionPolicy;
const policy = base();
const selectAccount = new Prompt({ name: 'select_account', requestable: true });
selectAccount.checks.clear();
policy.add(selectAccount);
policy.get('login').checks.add(new Check('select_account', 'account selection requested', (ctx) => (
  ctx.oidc.prompts.has('select_account') && !ctx.oidc.result?.login
    ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT)));

async function logoutSource(ctx, form) {
  const auto = ctx.oidc.entities.IdTokenHint !== undefined;
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign out</title></head><body>
    ${form}
    <h1>Sign out of the test provider?</h1>
    <button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
    <button type="submit" form="op.logoutForm">No, stay signed in</button>
    ${auto ? `<script>
      const f = document.getElementById('op.logoutForm');
      const yes = document.createElement('input');
      yes.type = 'hidden'; yes.name = 'logout'; yes.value = 'yes';
      f.appendChild(yes); f.submit();
    </script>` : ''}
    </body></html>`;
}

const configuration = {
  clients,
  findAccount,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'], // the roles: ask for the `groups` scope
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // The scopes' claims go in the identity token too (Streamlit's st.user shows the identity token's claims).
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: Boolean(args['registration-token']), initialAccessToken: args['registration-token'] ?? false },
    // Sign-out: st.logout() sends the browser to the end-session endpoint with the identity token as
    // id_token_hint (expired or not). With a hint this provider signs out at once, as Keycloak or Okta do (one
    // click in the app); without one it asks first (oidc-provider's default).
    rpInitiatedLogout: { enabled: true, logoutSource },
  },
  interactions: { policy },
  // No consent screen: every client of this test provider gets the scopes and claims it asks for.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    const grant = grantId ? await oidc.provider.Grant.find(grantId)
      : new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
    grant.addOIDCScope([...oidc.requestParamScopes].join(' '));
    grant.addOIDCClaims([...oidc.requestParamClaims]);
    await grant.save();
    return grant;
  },
  pkce: { required: () => false }, // Streamlit sends S256 when the metadata offers it; not required of others
  ttl: {
    IdToken: idTokenTtl,
    AccessToken: idTokenTtl,
    AuthorizationCode: 60,
    Interaction: 600,
    Grant: 3600,
    Session: 3600,
  },
  cookies: { keys: ['watchwait-test-provider-cookie-key'] },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><title>Provider error</title><h1>Provider error</h1><pre>${
      JSON.stringify(out).replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`)}</pre>`;
  },
};

const server = http.createServer();
server.listen(Number.parseInt(args.port, 10), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.on('authorization.error', (ctx, err) => console.error('authorization.error', err.message, err.error_description ?? ''));
  provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description ?? ''));
  provider.on('end_session.success', () => console.error('end_session.success'));
  provider.on('authorization.success', (ctx) => console.error('authorization.success', ctx.oidc.session?.accountId ?? ''));
  // devInteractions accepts any login; like a real provider, this one shows the form again for an unknown user.
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path) && ctx.is('application/x-www-form-urlencoded')) {
      const chunks = [];
      for await (const chunk of ctx.req) chunks.push(chunk);
      const raw = Buffer.concat(chunks).toString();
      const body = querystring.parse(raw);
      if (body.prompt === 'login' && !Object.hasOwn(USERS, String(body.login))) {
        console.error('unknown login', JSON.stringify(String(body.login)));
        ctx.status = 303;
        ctx.redirect(ctx.path);
        return;
      }
      ctx.request.body = raw; // read once here: devInteractions' parser takes it from request.body
    }
    await next();
  });
  server.on('request', provider.callback());
  console.log(JSON.stringify({ ready: true, issuer, port, id_token_ttl: idTokenTtl }));
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
