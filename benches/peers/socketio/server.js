// The seeds' own stack, as its authors describe it: a Node.js Socket.IO server with node-postgres
// doing write-through on Parley's schema. Each `message:send` runs one transaction (membership
// check, clientMessageId dedup, seq allocation with a row lock on the conversation, insert,
// commit), then acks the sender and broadcasts `message:received` to the conversation's room.
// It serves just the REST calls the load generator's set-up uses (register, create group), with
// the same JSON shapes as Parley. Run: PEER_PORT=18182 PGHOST=/path/to/socket/dir node server.js
'use strict';

const crypto = require('node:crypto');
const { Server } = require('socket.io');
const { Pool } = require('pg');
const bcrypt = require('bcryptjs');
const jwt = require('jsonwebtoken');
const { json, readBody, userFrom: bearer, validRegistration, restServer } = require('./rest.js');

const port = Number(process.env.PEER_PORT || 18182);
const secret = process.env.PEER_JWT_SECRET || crypto.randomBytes(32).toString('hex');
// node-postgres' default pool size (10): one connection per concurrent transaction.
const pool = new Pool({
  host: process.env.PGHOST,
  user: process.env.PGUSER || 'parley',
  database: process.env.PGDATABASE || 'parley',
  max: Number(process.env.PEER_POOL_SIZE || 10),
});

async function register(req, res) {
  const valid = validRegistration(await readBody(req));
  if (!valid) {
    return json(res, 400, { error: { code: 'VALIDATION_ERROR', message: 'bad username or password' } });
  }
  const { username, password } = valid;
  const id = crypto.randomUUID();
  const hash = await bcrypt.hash(password, 10);
  try {
    await pool.query(
      'INSERT INTO users (id, username, display_name, password_hash) VALUES ($1, $2, $2, $3)',
      [id, username, hash],
    );
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
  const id = crypto.randomUUID();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      "INSERT INTO conversations (id, kind, name, owner_id) VALUES ($1, 'group', $2, $3)",
      [id, name, me],
    );
    await client.query(
      `INSERT INTO conversation_members (conversation_id, user_id, role)
       SELECT $1, u, CASE WHEN u = $2 THEN 'owner' ELSE 'member' END
       FROM unnest($3::uuid[]) AS u`,
      [id, me, [me, ...memberIds.filter((m) => m !== me)]],
    );
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK');
    throw e;
  } finally {
    client.release();
  }
  // Members already connected join the new room.
  const members = new Set([me, ...memberIds]);
  for (const [, socket] of io.of('/').sockets) {
    if (members.has(socket.data.userId)) socket.join(id);
  }
  return json(res, 201, { data: { id, type: 'group', name } });
}

const server = restServer({
  'POST /api/auth/register': register,
  'POST /api/conversations': createGroup,
});

const io = new Server(server, { transports: ['websocket'], serveClient: false });

io.use((socket, next) => {
  try {
    socket.data.userId = jwt.verify(socket.handshake.auth.token, secret).sub;
    next();
  } catch {
    next(new Error('UNAUTHORIZED'));
  }
});

// The write-through path: ack only after COMMIT.
async function saveMessage(userId, { conversationId, clientMessageId, content }) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const member = await client.query(
      'SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $2',
      [conversationId, userId],
    );
    if (member.rowCount === 0) {
      await client.query('ROLLBACK');
      return { error: { code: 'NOT_FOUND', message: 'conversation not found' } };
    }
    const existing = await client.query(
      `SELECT * FROM messages WHERE conversation_id = $1 AND sender_id = $2 AND client_message_id = $3`,
      [conversationId, userId, clientMessageId],
    );
    if (existing.rowCount > 0) {
      await client.query('COMMIT');
      return { message: existing.rows[0], duplicate: true };
    }
    const seq = await client.query(
      `UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = now()
       WHERE id = $1 RETURNING last_seq`,
      [conversationId],
    );
    const inserted = await client.query(
      `INSERT INTO messages (id, conversation_id, seq, sender_id, client_message_id, content)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [crypto.randomUUID(), conversationId, seq.rows[0].last_seq, userId, clientMessageId, content],
    );
    await client.query('COMMIT');
    return { message: inserted.rows[0] };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

function view(row) {
  return {
    id: row.id, conversationId: row.conversation_id, senderId: row.sender_id, seq: Number(row.seq),
    content: row.content, contentType: row.content_type, clientMessageId: row.client_message_id,
    createdAt: row.created_at,
  };
}

io.on('connection', async (socket) => {
  const userId = socket.data.userId;
  const rooms = await pool.query(
    'SELECT conversation_id FROM conversation_members WHERE user_id = $1', [userId],
  );
  for (const row of rooms.rows) socket.join(row.conversation_id);

  socket.on('message:send', async (data, ack) => {
    if (typeof ack !== 'function') return;
    if (!data || typeof data.content !== 'string' || data.content.length < 1 || data.content.length > 4000
        || typeof data.clientMessageId !== 'string' || typeof data.conversationId !== 'string') {
      return ack({ status: 'error', error: { code: 'VALIDATION_ERROR', message: 'bad message' } });
    }
    try {
      const result = await saveMessage(userId, data);
      if (result.error) return ack({ status: 'error', error: result.error });
      const message = view(result.message);
      ack({ status: 'ok', message });
      if (!result.duplicate) socket.to(data.conversationId).emit('message:received', { message });
    } catch (e) {
      console.error(e.message);
      ack({ status: 'error', error: { code: 'DB_ERROR', message: 'could not save', retryable: true } });
    }
  });
});

server.listen(port, '127.0.0.1', () => console.log(`socket.io peer on 127.0.0.1:${port}`));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => { io.close(); pool.end().finally(() => process.exit(0)); });
}
