import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/db/migrate.ts';
import { startEmbeddedPostgres } from '../../src/dev/postgres.ts';
import { startTemporalDevServer } from '../../src/dev/temporal.ts';
import { bundleWorkflows } from '../../src/worker/bundle-workflows.ts';

export const TEMPLATE_DB = 'parley_template';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the test PostgreSQL cluster (no database path). */
    pgBaseUrl: string;
    temporalAddress: string;
    tmpRoot: string;
    /** The workflow bundle, built once per run (bundling takes seconds). */
    workflowBundle: { code: string };
  }
}

/**
 * One real PostgreSQL and one real Temporal dev server for the whole run. Each test file makes its own
 * database from a migrated template (see ./db.ts) and its own task queue, so files don't interfere.
 * DATABASE_URL / TEMPORAL_ADDRESS, when set, point tests at existing servers instead.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'parley-test-'));
  await fs.chmod(tmpRoot, 0o755);
  const stops: Array<() => Promise<void>> = [];
  const bundling = bundleWorkflows();

  let pgBaseUrl: string;
  if (process.env.DATABASE_URL) {
    pgBaseUrl = process.env.DATABASE_URL.replace(/\/[^/]*$/, '');
  } else {
    const pgServer = await startEmbeddedPostgres({ dataDir: path.join(tmpRoot, 'pg'), persistent: false });
    stops.push(pgServer.stop);
    pgBaseUrl = pgServer.urlFor('').replace(/\/$/, '');
  }
  const admin = new pg.Client({ connectionString: `${pgBaseUrl}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB}`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await admin.end();
  await migrate(`${pgBaseUrl}/${TEMPLATE_DB}`);

  let temporalAddress = process.env.TEMPORAL_ADDRESS;
  if (!temporalAddress) {
    const temporal = await startTemporalDevServer({ headless: true });
    stops.push(temporal.stop);
    temporalAddress = temporal.address;
  }

  project.provide('pgBaseUrl', pgBaseUrl);
  project.provide('temporalAddress', temporalAddress);
  project.provide('tmpRoot', tmpRoot);
  project.provide('workflowBundle', { code: (await bundling).code });

  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await fs.rm(tmpRoot, { recursive: true, force: true });
  };
}
