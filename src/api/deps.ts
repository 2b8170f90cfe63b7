import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import type { EventHub, EventLog } from '../events/event-log.ts';
import type { ChatWorkflows } from '../temporal/chat-workflows.ts';

/** Everything the HTTP layer needs, injected so tests can build the app against real services. */
export interface ApiDeps {
  config: Config;
  pool: Pool;
  events: EventLog;
  hub: EventHub;
  workflows: ChatWorkflows;
  /** For /readyz: resolves when Temporal answers. */
  temporalHealth(): Promise<void>;
}
