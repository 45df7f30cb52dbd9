// A real OpenID provider for Nightwatch's tests: oidc-provider (npm) on 127.0.0.1.
// Usage: node provider.mjs <config.json>; the config gives the port, the issuer, the
// signing keys (private JWKs: a restart with new keys is a key rotation), the clients
// and the users with their groups. Sign-in goes through oidc-provider's own development
// login and consent pages, which a test fills in like a browser would.
import fs from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: config.keys },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  conformIdTokenClaims: false, // the ID token carries the profile and groups claims
  findAccount: async (ctx, sub) => {
    const user = config.users[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      claims: async () => ({ sub, preferred_username: sub, name: user.name, groups: user.groups }),
    };
  },
  ttl: { IdToken: 600, AccessToken: 600, AuthorizationCode: 60, Session: 600, Interaction: 600, Grant: 600 },
  features: { devInteractions: { enabled: true } },
});

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
