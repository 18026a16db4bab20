// panva's oidc-provider with its own defaults, configured only where a relying party must be:
// one confidential client (the BFF), its dev login and consent pages, refresh tokens (rotated),
// revocation, introspection, RP-initiated logout and JWT access tokens for the resource servers
// named (resource indicators, RFC 8707: the first is the default; others are refused).
// Usage: node server.mjs PORT BFF_URL CLIENT_SECRET RESOURCE [RESOURCE...]
import Provider, { errors } from 'oidc-provider';

const [port, bffUrl, clientSecret, ...resources] = process.argv.slice(2);
const [resource] = resources;
// A second client for the FAPI 2.0-style chain: private_key_jwt (its public JWKS from the
// environment), pushed authorization requests required, DPoP-bound access tokens only, and a
// server nonce required in every DPoP proof (RFC 9449 section 8).
const fapiJwks = process.env.FAPI_CLIENT_JWKS ? JSON.parse(process.env.FAPI_CLIENT_JWKS) : null;
const issuer = `http://localhost:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bff-interop',
    client_secret: clientSecret,
    redirect_uris: [`${bffUrl}/bff/callback`],
    post_logout_redirect_uris: [`${bffUrl}/`],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }, ...(fapiJwks ? [{
    client_id: 'bff-fapi',
    jwks: fapiJwks,
    redirect_uris: [`${bffUrl}/bff/callback`],
    post_logout_redirect_uris: [`${bffUrl}/`],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
    require_pushed_authorization_requests: true,
    dpop_bound_access_tokens: true,
  }] : [])],
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'profile', 'email', 'offline_access', 'orders:read'],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: 'Alice Liddell', email: `${id}@example.test`, email_verified: true };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    pushedAuthorizationRequests: { enabled: true },
    dPoP: { enabled: true, nonceSecret: Buffer.alloc(32, 7), requireNonce: () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (!resources.includes(indicator)) throw new errors.InvalidTarget();
        return { scope: 'orders:read', audience: indicator, accessTokenFormat: 'jwt',
          accessTokenTTL: 120 };
      },
    },
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: { AccessToken: 120, IdToken: 300, RefreshToken: 3600, Grant: 3600, Session: 3600 },
  cookies: { keys: ['interop-only-not-secret'] },
});

provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`oidc-provider listening on ${issuer}\n`);
});
