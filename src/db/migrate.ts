import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

const migrationsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

/**
 * Applies pending SQL migrations. node-pg-migrate serialises runs with an advisory lock; `wait`
 * makes an API and a worker started together queue behind each other instead of one failing.
 */
export async function migrate(databaseUrl: string): Promise<void> {
  await runner({
    databaseUrl,
    dir: migrationsDir,
    migrationsTable: 'parley_migrations',
    direction: 'up',
    advisoryLockMode: 'wait',
    count: Infinity,
    log: () => {},
  });
}
