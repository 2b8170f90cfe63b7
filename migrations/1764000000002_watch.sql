-- Up Migration

-- Chat-list changes for GET /chats/watch. A trigger rather than application code, so every writer
-- (API, workflow activities, CLI, a manual UPDATE) is covered. The NOTIFY is sent on commit only.
-- UPDATE OF alone fires whenever the column is SET, and the workflow SETs status on every advance:
-- the WHEN clause keeps it to real changes (the per-event last_event_id bumps never notify).
CREATE FUNCTION parley_notify_chat_change() RETURNS trigger AS $$
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

CREATE TRIGGER chats_notify_insert AFTER INSERT ON chats
  FOR EACH ROW EXECUTE FUNCTION parley_notify_chat_change();
CREATE TRIGGER chats_notify_update AFTER UPDATE OF status, title, archived ON chats
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.title IS DISTINCT FROM NEW.title OR OLD.archived IS DISTINCT FROM NEW.archived)
  EXECUTE FUNCTION parley_notify_chat_change();
CREATE TRIGGER chats_notify_delete AFTER DELETE ON chats
  FOR EACH ROW EXECUTE FUNCTION parley_notify_chat_change();

-- A fork copies messages with their usage and cost, so the copy shows what its transcript cost;
-- this marks the copies so usage reports count every provider call once (at the original).
ALTER TABLE messages ADD COLUMN forked_from uuid;

-- Down Migration

ALTER TABLE messages DROP COLUMN forked_from;
DROP TRIGGER chats_notify_delete ON chats;
DROP TRIGGER chats_notify_update ON chats;
DROP TRIGGER chats_notify_insert ON chats;
DROP FUNCTION parley_notify_chat_change();
