// One long-lived driver: panva's openid-client and jose as clients of the reference
// authorization server. Reads one JSON request per line on stdin, writes one JSON answer per
// line on stdout ({ok: true, ...} or {ok: false, error, code}). The JWKS cache of jose lives as
// long as the process, which is what the key-rotation test needs.
import * as client from 'openid-client';
import * as jose from 'jose';
import { createInterface } from 'node:readline';

const state = { configs: new Map(), jwks: new Map(), dpop: new Map() };

async function clientAuth({ auth, clientSecret, privateJwk }) {
  if (auth === 'private_key_jwt') {
    const key = await jose.importJWK(privateJwk, privateJwk.alg ?? 'ES256');
    return client.PrivateKeyJwt({ key, kid: privateJwk.kid });
  }
  return auth === 'client_secret_post'
    ? client.ClientSecretPost(clientSecret) : client.ClientSecretBasic(clientSecret);
}

async function configFor(req) {
  const { issuer, clientId, auth } = req;
  const key = `${issuer}|${clientId}|${auth}`;
  if (!state.configs.has(key)) {
    state.configs.set(key, await client.discovery(new URL(issuer), clientId, undefined,
      await clientAuth(req), { execute: [client.allowInsecureRequests] }));
  }
  return state.configs.get(key);
}

// One DPoP key pair per name the test gives, so a refresh can prove the same key.
async function dpopFor(config, name) {
  if (!state.dpop.has(name)) state.dpop.set(name, await client.randomDPoPKeyPair('ES256'));
  return client.getDPoPHandle(config, state.dpop.get(name));
}

const ops = {
  // The FAPI 2.0-style client: private_key_jwt, a pushed authorization request, DPoP.
  async par_authorize_url(req) {
    const config = await configFor(req);
    const verifier = client.randomPKCECodeVerifier();
    const state_ = client.randomState();
    const nonce = client.randomNonce();
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: req.redirectUri, scope: req.scope, state: state_, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }, { DPoP: await dpopFor(config, req.dpop) });
    return { url: url.href, verifier, state: state_, nonce };
  },
  async dpop_exchange(req) {
    const config = await configFor(req);
    const tokens = await client.authorizationCodeGrant(config, new URL(req.callbackUrl), {
      pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce,
      idTokenExpected: true,
    }, undefined, { DPoP: await dpopFor(config, req.dpop) });
    return { tokens: { ...tokens } };
  },
  async dpop_refresh(req) {
    const config = await configFor(req);
    const tokens = await client.refreshTokenGrant(config, req.refreshToken, undefined,
      { DPoP: await dpopFor(config, req.dpop) });
    return { tokens: { ...tokens } };
  },
  async discover(req) {
    return { metadata: (await configFor(req)).serverMetadata() };
  },
  async authorize_url(req) {
    const config = await configFor(req);
    const verifier = client.randomPKCECodeVerifier();
    const challenge = await client.calculatePKCECodeChallenge(verifier);
    const state_ = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: req.redirectUri, scope: req.scope, code_challenge: challenge,
      code_challenge_method: 'S256', state: state_, nonce,
    });
    return { url: url.href, verifier, state: state_, nonce };
  },
  async exchange(req) {
    const config = await configFor(req);
    const tokens = await client.authorizationCodeGrant(config, new URL(req.callbackUrl), {
      pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce,
      idTokenExpected: true,
    });
    return { tokens: { ...tokens }, claims: tokens.claims() };
  },
  async userinfo(req) {
    return { userinfo: await client.fetchUserInfo(await configFor(req), req.accessToken,
                                                   req.expectedSubject) };
  },
  async refresh(req) {
    const tokens = await client.refreshTokenGrant(await configFor(req), req.refreshToken);
    return { tokens: { ...tokens }, claims: tokens.claims() ?? null };
  },
  async client_credentials(req) {
    const tokens = await client.clientCredentialsGrant(await configFor(req),
                                                       { scope: req.scope });
    return { tokens: { ...tokens } };
  },
  async introspect(req) {
    return { introspection: await client.tokenIntrospection(await configFor(req), req.token) };
  },
  async revoke(req) {
    await client.tokenRevocation(await configFor(req), req.token,
                                 { token_type_hint: req.hint });
    return {};
  },
  async end_session_url(req) {
    const url = client.buildEndSessionUrl(await configFor(req), {
      id_token_hint: req.idTokenHint, post_logout_redirect_uri: req.postLogoutRedirectUri,
    });
    return { url: url.href };
  },
  async jose_verify(req) {
    if (!state.jwks.has(req.jwksUri)) {
      state.jwks.set(req.jwksUri, jose.createRemoteJWKSet(new URL(req.jwksUri),
        { cooldownDuration: req.cooldownMs ?? 30000 }));
    }
    const { payload, protectedHeader } = await jose.jwtVerify(
      req.token, state.jwks.get(req.jwksUri),
      { issuer: req.issuer, audience: req.audience, typ: req.typ });
    return { payload, header: protectedHeader };
  },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const req = JSON.parse(line);
  let answer;
  try {
    answer = { ok: true, ...(await ops[req.op](req)) };
  } catch (error) {
    answer = { ok: false, error: error.error ?? error.code ?? error.name,
               message: String(error.message ?? error), code: error.code ?? null };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
