// Parley's ids are uuids (chats, messages, users, models, providers, tokens).
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids come from URLs and directory names: anything that isn't a uuid can't exist, and must not reach a uuid column. */
export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID_RE.test(s);
