// node-oidc-provider (OpenID Certified) for tokpost's sign-in tests: one confidential client,
// PKCE required, the development login and consent pages, and the accounts the test names.
// Started by tokpost_testkit::oidc with:
//   OIDC_PROVIDER_MODULE  the path of node_modules/oidc-provider/lib/index.js
//   PORT                  the loopback port to listen on (the issuer is http://127.0.0.1:PORT)
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URI
//   ACCOUNTS              JSON: { "<login>": { "email": …, "email_verified": …, "name": … } }
// Prints "ready <issuer>" once it listens.
import { pathToFileURL } from 'node:url';

const { default: Provider } = await import(pathToFileURL(process.env.OIDC_PROVIDER_MODULE).href);
const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS);

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { methods: ['S256'], required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // The email stays out of the ID token unless asked for: tokpost reads it from user info.
  conformIdTokenClaims: true,
  cookies: { keys: ['tokpost-test-provider'] },
  findAccount: async (_ctx, id) => {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
