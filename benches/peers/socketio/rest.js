// The REST side both Socket.IO peers serve for the load generator's set-up (the same JSON shapes
// as Parley): JSON answers, bounded JSON bodies, bearer tokens, the route table and the
// validation of a registration. Node built-ins only, so the tuned peer can require it too.
'use strict';

const http = require('node:http');

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

// A JSON body of at most 1 MB.
function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; if (data.length > 1e6) req.destroy(); });
    req.on('end', () => { try { resolve(data ? JSON.parse(data) : {}); } catch (e) { reject(e); } });
    req.on('error', reject);
  });
}

// The user id in a `Bearer` token verified by `verify` (jsonwebtoken's, bound to the secret).
function userFrom(req, verify) {
  const header = req.headers.authorization || '';
  try { return verify(header.replace(/^Bearer /, '')).sub; } catch { return null; }
}

// A registration's username and password, or null when they break Parley's rules.
function validRegistration({ username, password }) {
  if (!/^[a-z0-9_]{3,32}$/.test(username || '') || !password || password.length < 8) return null;
  return { username, password };
}

// An HTTP server answering `routes` ({"POST /path": async (req, res) => ...}), 404 otherwise.
function restServer(routes) {
  return http.createServer((req, res) => {
    const route = `${req.method} ${req.url.split('?')[0]}`;
    const handler = routes[route];
    if (!handler) return json(res, 404, { error: { code: 'NOT_FOUND', message: route } });
    handler(req, res).catch((e) => {
      console.error(e);
      json(res, 500, { error: { code: 'INTERNAL_ERROR', message: 'internal error' } });
    });
  });
}

module.exports = { json, readBody, userFrom, validRegistration, restServer };
