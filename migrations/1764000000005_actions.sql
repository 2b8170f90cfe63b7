-- Up Migration

-- Tool approval and questions. A tool policy ({"default": "auto"|"ask", "tools": {name: ...}}) on a
-- model and on a chat; the chat's, when set, replaces its model's. Null: every tool runs ("auto").
ALTER TABLE models ADD COLUMN tool_policy jsonb;
ALTER TABLE chats ADD COLUMN tool_policy jsonb;

-- A turn paused for a person: the chat stays 'running' (its turn is in progress, the queue and the
-- interrupt rules of a running chat apply) with awaiting_action set; clients see 'requires_action'.
ALTER TABLE chats ADD COLUMN awaiting_action boolean NOT NULL DEFAULT false;

-- One row per tool call that waits (or waited) for a person: an approval of a call the policy asks
-- about, or an ask_user_question. The workflow decides, an answer only reaches it through its
-- answerToolCall update; the text a person typed stays here (answer_text), never in Temporal's history.
CREATE TABLE tool_actions (
  chat_id       uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
  tool_call_id  text NOT NULL,
  turn          integer NOT NULL,
  step          integer NOT NULL,
  idx           integer NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('approval', 'question')),
  tool          text NOT NULL,
  state         text NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'approved', 'denied', 'answered', 'interrupted', 'timed_out')),
  -- The answer that won (see tool_action_answers), once the workflow took it.
  answer_id     uuid,
  created_at    timestamptz NOT NULL DEFAULT now(),
  answered_at   timestamptz,
  PRIMARY KEY (chat_id, tool_call_id)
);
CREATE INDEX tool_actions_pending ON tool_actions (chat_id) WHERE state = 'pending';

-- What people sent, before the workflow took one: a denial's reason or a question's answer, by id.
-- Two people answering at once both land here; the update the workflow accepted names the winner.
CREATE TABLE tool_action_answers (
  id            uuid PRIMARY KEY,
  chat_id       uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
  tool_call_id  text NOT NULL,
  user_id       uuid NOT NULL,
  decision      text NOT NULL CHECK (decision IN ('approve', 'deny', 'answer')),
  text          text,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tool_action_answers_call ON tool_action_answers (chat_id, tool_call_id);

-- The watch stream shows what clients see: 'requires_action' while awaiting_action is set.
CREATE OR REPLACE FUNCTION parley_notify_chat_change() RETURNS trigger AS $$
DECLARE
  r chats;
  changes text[];
BEGIN
  IF TG_OP = 'DELETE' THEN
    r := OLD;
    changes := ARRAY['deleted'];
  ELSIF TG_OP = 'INSERT' THEN
    r := NEW;
    changes := ARRAY['created'];
  ELSE
    r := NEW;
    changes := ARRAY[]::text[];
    IF NEW.title IS DISTINCT FROM OLD.title THEN changes := array_append(changes, 'title'); END IF;
    IF NEW.archived IS DISTINCT FROM OLD.archived THEN changes := array_append(changes, 'archived'); END IF;
    IF NEW.status IS DISTINCT FROM OLD.status OR NEW.awaiting_action IS DISTINCT FROM OLD.awaiting_action THEN
      changes := array_append(changes, 'status');
    END IF;
  END IF;
  -- NOTIFY payloads are capped at 8000 bytes and an oversized one fails the writer's transaction:
  -- titles (at most 200 characters through the API) are clipped to stay far below that.
  PERFORM pg_notify('parley_chat_changes', json_build_object(
    'userId', r.owner_id, 'chatId', r.id, 'changes', changes,
    'title', left(r.title, 1000),
    'status', CASE WHEN r.status = 'running' AND r.awaiting_action THEN 'requires_action' ELSE r.status END,
    'archived', r.archived, 'createdAt', r.created_at, 'updatedAt', r.updated_at
  )::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER chats_notify_update ON chats;
CREATE TRIGGER chats_notify_update AFTER UPDATE OF status, title, archived, awaiting_action ON chats
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.title IS DISTINCT FROM NEW.title OR OLD.archived IS DISTINCT FROM NEW.archived
        OR OLD.awaiting_action IS DISTINCT FROM NEW.awaiting_action)
  EXECUTE FUNCTION parley_notify_chat_change();

-- Down Migration
DROP TRIGGER chats_notify_update ON chats;
CREATE TRIGGER chats_notify_update AFTER UPDATE OF status, title, archived ON chats
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.title IS DISTINCT FROM NEW.title OR OLD.archived IS DISTINCT FROM NEW.archived)
  EXECUTE FUNCTION parley_notify_chat_change();
-- The watch migration's function again: it must not read the column dropped below.
CREATE OR REPLACE FUNCTION parley_notify_chat_change() RETURNS trigger AS $$
DECLARE
  r chats;
  changes text[];
BEGIN
  IF TG_OP = 'DELETE' THEN
    r := OLD;
    changes := ARRAY['deleted'];
  ELSIF TG_OP = 'INSERT' THEN
    r := NEW;
    changes := ARRAY['created'];
  ELSE
    r := NEW;
    changes := ARRAY[]::text[];
    IF NEW.title IS DISTINCT FROM OLD.title THEN changes := array_append(changes, 'title'); END IF;
    IF NEW.archived IS DISTINCT FROM OLD.archived THEN changes := array_append(changes, 'archived'); END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN changes := array_append(changes, 'status'); END IF;
  END IF;
  -- NOTIFY payloads are capped at 8000 bytes and an oversized one fails the writer's transaction:
  -- titles (at most 200 characters through the API) are clipped to stay far below that.
  PERFORM pg_notify('parley_chat_changes', json_build_object(
    'userId', r.owner_id, 'chatId', r.id, 'changes', changes,
    'title', left(r.title, 1000), 'status', r.status, 'archived', r.archived,
    'createdAt', r.created_at, 'updatedAt', r.updated_at
  )::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TABLE tool_action_answers;
DROP TABLE tool_actions;
ALTER TABLE chats DROP COLUMN awaiting_action;
ALTER TABLE chats DROP COLUMN tool_policy;
ALTER TABLE models DROP COLUMN tool_policy;
