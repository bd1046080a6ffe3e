// The seeds' stack (Socket.IO + node-postgres, write-through, ack after COMMIT) as an experienced
// Node developer would tune it for this load: the primary forks two workers (one per core) that
// share the port, joined by @socket.io/cluster-adapter so a room spans both; every send is one
// named prepared statement in autocommit (schema.sql's peer_send: membership, row lock, dedup,
// insert, seq bump); v7 message ids (time-ordered primary-key inserts); bufferutil for frame
// masking. The pool size per worker is PEER_POOL_SIZE (chosen by a sweep in scripts/bench.sh).
// It serves just the REST calls the load generator's set-up uses (register, create group), with
// the same JSON shapes as Parley. Run: PEER_PORT=18182 PGHOST=/path/to/socket/dir node server.js
'use strict';

const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const port = Number(process.env.PEER_PORT || 18182);
const workers = Number(process.env.PEER_WORKERS || 2);
const pgOptions = {
  host: process.env.PGHOST,
  user: process.env.PGUSER || 'parley',
  database: process.env.PGDATABASE || 'parley',
};

if (cluster.isPrimary) {
  const { Client } = require('pg');
  const { setupPrimary } = require('@socket.io/cluster-adapter');
  // One secret for every worker: a token from one is good at the other.
  process.env.PEER_JWT_SECRET ||= crypto.randomBytes(32).toString('hex');
  (async () => {
    const client = new Client(pgOptions);
    await client.connect();
    await client.query(fs.readFileSync(path.join(__dirname, 'schema.sql'), 'utf8'));
    await client.end();
    setupPrimary();
    for (let i = 0; i < workers; i++) cluster.fork();
    let ready = 0;
    cluster.on('message', (_worker, message) => {
      if (message === 'listening' && ++ready === workers) {
        console.log(`socket.io tuned peer on 127.0.0.1:${port} (${workers} workers)`);
      }
    });
  })().catch((e) => { console.error(e); process.exit(1); });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      for (const worker of Object.values(cluster.workers)) worker.kill(signal);
      process.exit(0);
    });
  }
} else {
  worker();
}

function worker() {
  const { Server } = require('socket.io');
  const { createAdapter } = require('@socket.io/cluster-adapter');
  const { Pool } = require('pg');
  const bcrypt = require('bcryptjs');
  const jwt = require('jsonwebtoken');
  const { v7: uuidv7 } = require('uuid');
  const { json, readBody, userFrom: bearer, validRegistration, restServer } = require('../socketio/rest.js');

  const secret = process.env.PEER_JWT_SECRET;
  const pool = new Pool({ ...pgOptions, max: Number(process.env.PEER_POOL_SIZE || 10) });

  async function register(req, res) {
    const valid = validRegistration(await readBody(req));
    if (!valid) {
      return json(res, 400, { error: { code: 'VALIDATION_ERROR', message: 'bad username or password' } });
    }
    const { username, password } = valid;
    const id = uuidv7();
    const hash = await bcrypt.hash(password, 10);
    try {
      await pool.query({
        name: 'register',
        text: 'INSERT INTO users (id, username, display_name, password_hash) VALUES ($1, $2, $2, $3)',
        values: [id, username, hash],
      });
    } catch (e) {
      if (e.code === '23505') return json(res, 409, { error: { code: 'CONFLICT', message: 'username taken' } });
      throw e;
    }
    const accessToken = jwt.sign({ sub: id }, secret, { expiresIn: '1h' });
    return json(res, 201, { data: { user: { id, username }, accessToken } });
  }

  async function createGroup(req, res) {
    const me = bearer(req, (token) => jwt.verify(token, secret));
    if (!me) return json(res, 401, { error: { code: 'UNAUTHORIZED', message: 'sign in' } });
    const { name, memberIds = [] } = await readBody(req);
    const id = uuidv7();
    const members = [me, ...memberIds.filter((m) => m !== me)];
    // One statement: the group and its members.
    await pool.query({
      name: 'create-group',
      text: `WITH c AS (INSERT INTO conversations (id, kind, name, owner_id) VALUES ($1, 'group', $2, $3))
             INSERT INTO conversation_members (conversation_id, user_id, role)
             SELECT $1, u, CASE WHEN u = $3 THEN 'owner' ELSE 'member' END FROM unnest($4::uuid[]) AS u`,
      values: [id, name, me, members],
    });
    // Members already connected, on either worker, join the new room.
    io.in(members.map((m) => `user:${m}`)).socketsJoin(id);
    return json(res, 201, { data: { id, type: 'group', name } });
  }

  const server = restServer({
    'POST /api/auth/register': register,
    'POST /api/conversations': createGroup,
  });

  const io = new Server(server, {
    transports: ['websocket'],
    serveClient: false,
    adapter: createAdapter(),
  });

  io.use((socket, next) => {
    try {
      socket.data.userId = jwt.verify(socket.handshake.auth.token, secret).sub;
      next();
    } catch {
      next(new Error('UNAUTHORIZED'));
    }
  });

  async function saveMessage(userId, { conversationId, clientMessageId, content }) {
    const id = uuidv7();
    const { rows } = await pool.query({
      name: 'send',
      text: 'SELECT status, id, seq, created_at FROM peer_send($1, $2, $3, $4, $5)',
      values: [conversationId, userId, clientMessageId, content, id],
    });
    const row = rows[0];
    if (row.status === 'not_member') return { error: { code: 'NOT_FOUND', message: 'conversation not found' } };
    return {
      duplicate: row.status === 'duplicate',
      message: {
        id: row.id, conversationId, senderId: userId, seq: Number(row.seq), content,
        contentType: 'text', clientMessageId, createdAt: row.created_at,
      },
    };
  }

  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  io.on('connection', async (socket) => {
    const userId = socket.data.userId;
    socket.join(`user:${userId}`);
    const rooms = await pool.query({
      name: 'rooms',
      text: 'SELECT conversation_id FROM conversation_members WHERE user_id = $1',
      values: [userId],
    });
    for (const row of rooms.rows) socket.join(row.conversation_id);

    socket.on('message:send', async (data, ack) => {
      if (typeof ack !== 'function') return;
      const clientMessageId = data && data.clientMessageId;
      if (!data || typeof data.content !== 'string' || data.content.length < 1 || data.content.length > 4000
          || typeof clientMessageId !== 'string' || clientMessageId.length < 1 || clientMessageId.length > 100
          || typeof data.conversationId !== 'string' || !UUID.test(data.conversationId)) {
        return ack({ status: 'error', clientMessageId, error: { code: 'VALIDATION_ERROR', message: 'bad message' } });
      }
      try {
        const result = await saveMessage(userId, data);
        if (result.error) return ack({ status: 'error', clientMessageId, error: result.error });
        ack({ status: 'ok', message: result.message });
        if (!result.duplicate) socket.to(data.conversationId).emit('message:received', { message: result.message });
      } catch (e) {
        console.error(e.message);
        ack({ status: 'error', clientMessageId, error: { code: 'DB_ERROR', message: 'could not save', retryable: true } });
      }
    });
  });

  server.listen(port, '127.0.0.1', () => process.send && process.send('listening'));
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => { io.close(); pool.end().finally(() => process.exit(0)); });
  }
}
