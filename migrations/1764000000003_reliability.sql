-- Up Migration

-- Idempotency-Key records (POST /chats, POST /chats/:id/messages). A record is written in the same
-- transaction as the chat or message it created, so a committed record always has its response: a
-- retry with the same key replays it instead of creating a second chat. Keys are per user.
CREATE TABLE idempotency_keys (
  owner_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  key          text NOT NULL,
  -- sha-256 of the method, route and body: the same key with another request is refused (422).
  fingerprint  text NOT NULL,
  status       integer NOT NULL,
  response     jsonb NOT NULL,
  -- What the response created, so a replay can wake the chat's workflow again.
  chat_id      uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- One row: this database's deployment identity. Chat workflows carry it, and a worker refuses a
-- workflow task of another deployment's chat (two Parleys sharing one Temporal task queue) instead
-- of settling that chat as deleted. Filled in at start (not here), so a cloned database can get its own.
CREATE TABLE parley_deployment (
  single  boolean PRIMARY KEY DEFAULT true CHECK (single),
  id      uuid NOT NULL
);

-- The reconciler's scan: chats whose status says a turn should be running or starting.
CREATE INDEX chats_busy ON chats (id) WHERE status IN ('pending', 'running');

-- Down Migration
DROP INDEX chats_busy;
DROP TABLE parley_deployment;
DROP TABLE idempotency_keys;
