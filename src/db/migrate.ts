import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

const migrationsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

/** Applies pending SQL migrations (node-pg-migrate takes an advisory lock, so concurrent starts are safe). */
export async function migrate(databaseUrl: string): Promise<void> {
  await runner({
    databaseUrl,
    dir: migrationsDir,
    migrationsTable: 'parley_migrations',
    direction: 'up',
    count: Infinity,
    log: () => {},
  });
}
