-- Up Migration

CREATE TABLE users (
  id          uuid PRIMARY KEY,
  username    text NOT NULL UNIQUE,
  role        text NOT NULL CHECK (role IN ('admin', 'member')),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Tokens are stored as SHA-256 hashes: a token is shown once, at creation.
CREATE TABLE api_tokens (
  id            uuid PRIMARY KEY,
  user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash    text NOT NULL UNIQUE,
  name          text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

-- api_key_enc: AES-256-GCM with a key derived from PARLEY_SECRET_KEY (never returned by the API).
CREATE TABLE providers (
  id           uuid PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  type         text NOT NULL CHECK (type IN ('openai', 'anthropic', 'openai-compatible')),
  base_url     text,
  api_key_enc  text,
  source       text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'env')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
  id                            uuid PRIMARY KEY,
  provider_id                   uuid NOT NULL REFERENCES providers(id) ON DELETE RESTRICT,
  model                         text NOT NULL,
  display_name                  text,
  context_limit                 integer NOT NULL CHECK (context_limit > 0),
  compaction_threshold_percent  integer NOT NULL DEFAULT 70 CHECK (compaction_threshold_percent BETWEEN 1 AND 100),
  max_output_tokens             integer CHECK (max_output_tokens > 0),
  is_default                    boolean NOT NULL DEFAULT false,
  -- {inputPerMTok, outputPerMTok, cacheReadPerMTok?, cacheWritePerMTok?} in currency units per million tokens
  pricing                       jsonb,
  options                       jsonb NOT NULL DEFAULT '{}',
  created_at                    timestamptz NOT NULL DEFAULT now(),
  updated_at                    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX models_single_default ON models(is_default) WHERE is_default;

CREATE TABLE chats (
  id              uuid PRIMARY KEY,
  owner_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title           text NOT NULL DEFAULT '',
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'waiting', 'error')),
  model_id        uuid REFERENCES models(id) ON DELETE SET NULL,
  parent_chat_id  uuid REFERENCES chats(id) ON DELETE SET NULL,
  last_error      jsonb,
  archived        boolean NOT NULL DEFAULT false,
  -- Number of the latest turn started; messages are keyed by (turn, step, idx).
  turn            integer NOT NULL DEFAULT 0,
  -- Temporal run that set status 'running': tells a retried activity of that run from a stale run.
  active_run_id   text,
  -- Allocator for the per-chat event log: taking the row lock serialises appends per chat,
  -- so event ids commit in order and a reader resuming after N never misses one.
  last_event_id   bigint NOT NULL DEFAULT 0,
  context_tokens  integer,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chats_owner_recent ON chats(owner_id, archived, created_at DESC, id DESC);

-- A chat's transcript. Order is (turn, step, idx): the user message of a turn is (t, 0, 0), the
-- assistant message of step s is (t, s, 0) and its tool results (t, s, 1 + call index), so the
-- unique key also makes persistence idempotent per (turn, step) and tool results keep call order.
CREATE TABLE messages (
  id            uuid PRIMARY KEY,
  chat_id       uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
  turn          integer NOT NULL,
  step          integer NOT NULL,
  idx           integer NOT NULL,
  role          text NOT NULL CHECK (role IN ('user', 'assistant', 'tool', 'system')),
  parts         jsonb NOT NULL,
  visibility    text NOT NULL DEFAULT 'both' CHECK (visibility IN ('user', 'model', 'both')),
  compressed    boolean NOT NULL DEFAULT false,
  tool_call_id  text,
  model_id      uuid REFERENCES models(id) ON DELETE SET NULL,
  model         text,
  usage         jsonb,
  cost_micros   bigint,
  -- Set once an assistant message is complete ('interrupted' for a kept partial): a retried step
  -- returns the stored message instead of calling (and paying) the provider again.
  finish_reason text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (chat_id, turn, step, idx)
);
CREATE UNIQUE INDEX messages_tool_call ON messages(chat_id, tool_call_id) WHERE tool_call_id IS NOT NULL;

-- PostgreSQL is the source of truth for the queue; the workflow drains it in `position` order.
CREATE TABLE queued_messages (
  id          uuid PRIMARY KEY,
  chat_id     uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
  content     text NOT NULL,
  position    bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queued_messages_order ON queued_messages(chat_id, position);

CREATE TABLE chat_events (
  chat_id     uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
  id          bigint NOT NULL,
  type        text NOT NULL,
  data        jsonb NOT NULL,
  -- For message_part events: which message they belong to, so deltas can be pruned once it is stored.
  message_id  uuid,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chat_id, id)
);
CREATE INDEX chat_events_parts ON chat_events(chat_id, message_id) WHERE message_id IS NOT NULL;

-- Down Migration

DROP TABLE chat_events;
DROP TABLE queued_messages;
DROP TABLE messages;
DROP TABLE chats;
DROP TABLE models;
DROP TABLE providers;
DROP TABLE api_tokens;
DROP TABLE users;
