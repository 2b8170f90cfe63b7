-- Up Migration

-- Sub-agents (spawn_agent): a child chat has parent_chat_id set (like a fork) and agent_depth >= 1
-- (a fork is a top-level chat again: depth 0). A child works in its top-level ancestor's workspace,
-- named by workspace_chat_id (null: the chat's own). Deleting a parent deletes its sub-agents (the
-- use-case does it, after cancelling their workflows), so neither column needs a cascade.
ALTER TABLE chats ADD COLUMN agent_depth integer NOT NULL DEFAULT 0 CHECK (agent_depth >= 0);
ALTER TABLE chats ADD COLUMN workspace_chat_id uuid;
-- list_agents, ?parentId=, the usage roll-up, and cascading deletes and interrupts.
CREATE INDEX chats_parent ON chats (parent_chat_id) WHERE parent_chat_id IS NOT NULL;

-- Down Migration
DROP INDEX chats_parent;
ALTER TABLE chats DROP COLUMN workspace_chat_id;
ALTER TABLE chats DROP COLUMN agent_depth;
