'use strict';
// The peer for bench scenario 7: the BFF a Node.js team would build from Auth0's
// express-openid-connect (login, encrypted cookie session, tokens, refresh) and
// http-proxy-middleware, set up as their READMEs and EXAMPLES.md show. It runs as many cluster
// workers as the BFF has gunicorn workers (WORKERS), so both get the same cores.
// Configuration is by environment: PORT, BASE_URL, ISSUER_BASE_URL, CLIENT_ID, CLIENT_SECRET,
// SECRET, UPSTREAM, WORKERS.

const cluster = require('node:cluster');

const workers = Number(process.env.WORKERS || '1');

if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
  let stopping = false;
  cluster.on('exit', (worker, code) => {
    if (!stopping) {
      console.error(`peer worker ${worker.process.pid} exited with ${code}`);
      process.exit(1);
    }
  });
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker.kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const express = require('express');
  const { auth } = require('express-openid-connect');
  const { createProxyMiddleware } = require('http-proxy-middleware');

  const app = express();
  app.get('/healthz', (req, res) => res.type('text').send('ok'));

  app.use(auth({
    issuerBaseURL: process.env.ISSUER_BASE_URL,
    baseURL: process.env.BASE_URL,
    clientID: process.env.CLIENT_ID,
    clientSecret: process.env.CLIENT_SECRET,
    secret: process.env.SECRET,
    authRequired: false,
    idpLogout: true,
    authorizationParams: {
      response_type: 'code',
      scope: 'openid profile email offline_access orders:read orders:write',
    },
  }));

  app.get('/', (req, res) => res.type('text').send(req.oidc.isAuthenticated() ? 'in' : 'out'));

  // The access token for the API, refreshed when expired (EXAMPLES.md: "Obtaining access tokens
  // to call external APIs"); the browser's cookies stay here.
  async function attachToken(req, res, next) {
    if (!req.oidc.isAuthenticated()) {
      res.status(401).json({ error: 'login_required' });
      return;
    }
    try {
      let token = req.oidc.accessToken;
      if (token.isExpired()) token = await token.refresh();
      req.headers.authorization = `${token.token_type || 'Bearer'} ${token.access_token}`;
      delete req.headers.cookie;
      next();
    } catch (err) {
      next(err);
    }
  }

  app.use('/api/orders', attachToken, createProxyMiddleware({
    target: `${process.env.UPSTREAM}/orders`,
    changeOrigin: true,
  }));

  const server = app.listen(Number(process.env.PORT || '3000'), '127.0.0.1');
  server.keepAliveTimeout = 75000;
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
