-- Up Migration

-- title_auto: the title is still the first words of the first message; the workflow claims the
-- flag (in advanceChat) to generate a real title once.
-- compact_requested: a manual compaction (POST /chats/:id/compact) waiting for the workflow.
ALTER TABLE chats
  ADD COLUMN title_auto boolean NOT NULL DEFAULT false,
  ADD COLUMN compact_requested boolean NOT NULL DEFAULT false;

-- Down Migration

ALTER TABLE chats DROP COLUMN title_auto, DROP COLUMN compact_requested;
