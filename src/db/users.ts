// Users and their API tokens. A token is shown once, at creation; only its SHA-256 is stored, so a
// database leak does not leak credentials (tokens are 256 random bits: no salt or slow hash needed).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AuthUser } from '../shared/types.ts';
import { conflict } from '../shared/errors.ts';
import { withTransaction, type Pool } from './pool.ts';
import { isUuid, pgCode, toUser, type Queryable, type User, type UserRole } from './rows.ts';

export const ADMIN_USERNAME = 'admin';
// Marks the token that mirrors PARLEY_ADMIN_TOKEN, so a changed env value replaces the old one.
const ENV_ADMIN_TOKEN_NAME = 'env:PARLEY_ADMIN_TOKEN';

export const generateToken = (): string => `prl_${randomBytes(32).toString('base64url')}`;
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

async function insertToken(db: Queryable, userId: string, token: string, name: string | null): Promise<string> {
  const id = randomUUID();
  await db.query('INSERT INTO api_tokens (id, user_id, token_hash, name) VALUES ($1, $2, $3, $4)', [id, userId, hashToken(token), name]);
  return id;
}

export async function createUser(
  pool: Pool, input: { username: string; role: UserRole },
): Promise<{ user: User; token: string; tokenId: string }> {
  try {
    return await withTransaction(pool, async (tx) => {
      const { rows } = await tx.query(
        'INSERT INTO users (id, username, role) VALUES ($1, $2, $3) RETURNING id, username, role, created_at',
        [randomUUID(), input.username, input.role],
      );
      const token = generateToken();
      const tokenId = await insertToken(tx, rows[0].id, token, null);
      return { user: toUser(rows[0]), token, tokenId };
    });
  } catch (err) {
    if (pgCode(err) === '23505') throw conflict(`username ${JSON.stringify(input.username)} is already taken`);
    throw err;
  }
}

export async function getUser(db: Queryable, id: string): Promise<User | null> {
  if (!isUuid(id)) return null;
  const { rows } = await db.query('SELECT id, username, role, created_at FROM users WHERE id = $1', [id]);
  return rows[0] ? toUser(rows[0]) : null;
}

/**
 * Makes PARLEY_ADMIN_TOKEN a valid token of the `admin` user (created with the admin role if missing).
 * Idempotent across restarts; when the env token changes, the previous env token stops working.
 */
export async function ensureAdmin(pool: Pool, adminToken: string): Promise<AuthUser> {
  return withTransaction(pool, async (tx) => {
    // Serialises concurrent starts (several API processes booting at once).
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('parley.ensure_admin'))`);
    const { rows } = await tx.query(
      `INSERT INTO users (id, username, role) VALUES ($1, $2, 'admin')
       ON CONFLICT (username) DO UPDATE SET role = 'admin'
       RETURNING id, username, role`,
      [randomUUID(), ADMIN_USERNAME],
    );
    const admin = rows[0] as AuthUser;
    const hash = hashToken(adminToken);
    await tx.query('DELETE FROM api_tokens WHERE user_id = $1 AND name = $2 AND token_hash <> $3', [admin.id, ENV_ADMIN_TOKEN_NAME, hash]);
    await tx.query(
      `INSERT INTO api_tokens (id, user_id, token_hash, name) VALUES ($1, $2, $3, $4)
       ON CONFLICT (token_hash) DO UPDATE SET user_id = EXCLUDED.user_id, name = EXCLUDED.name`,
      [randomUUID(), admin.id, hash, ENV_ADMIN_TOKEN_NAME],
    );
    return { id: admin.id, username: admin.username, role: admin.role };
  });
}

/** The user a bearer token belongs to, or null. */
export async function authenticate(pool: Pool, token: string): Promise<AuthUser | null> {
  if (!token) return null;
  const { rows } = await pool.query(
    `SELECT u.id, u.username, u.role, t.id AS token_id,
            (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS stale
     FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1`,
    [hashToken(token)],
  );
  const r = rows[0];
  if (!r) return null;
  // last_used_at is informational: refresh it at most once a minute rather than write on every request.
  if (r.stale) await pool.query('UPDATE api_tokens SET last_used_at = now() WHERE id = $1', [r.token_id]);
  return { id: r.id, username: r.username, role: r.role, tokenId: r.token_id };
}

/** Which of the token ids still exist (not revoked). */
export async function liveTokenIds(db: Queryable, ids: string[]): Promise<Set<string>> {
  const { rows } = await db.query('SELECT id FROM api_tokens WHERE id = ANY($1::uuid[])', [ids]);
  return new Set(rows.map((r) => r.id as string));
}

/**
 * A new token for the user, unless they already have `max` (then null). One statement, so two
 * concurrent requests can't both pass the count.
 */
export async function createToken(db: Queryable, userId: string, name: string | null | undefined, max: number): Promise<{ id: string; token: string } | null> {
  const token = generateToken();
  const id = randomUUID();
  const res = await db.query(
    `INSERT INTO api_tokens (id, user_id, token_hash, name)
     SELECT $1, $2, $3, $4 WHERE (SELECT count(*) FROM api_tokens WHERE user_id = $2) < $5`,
    [id, userId, hashToken(token), name ?? null, max],
  );
  return res.rowCount ? { id, token } : null;
}

/** Deletes one of the user's own tokens; false when there is no such token of theirs. */
export async function deleteToken(db: Queryable, userId: string, tokenId: string): Promise<boolean> {
  if (!isUuid(tokenId)) return false;
  const res = await db.query('DELETE FROM api_tokens WHERE id = $1 AND user_id = $2', [tokenId, userId]);
  return (res.rowCount ?? 0) > 0;
}
