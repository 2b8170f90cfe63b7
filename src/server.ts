// The server side of `parley`: dev (all in one), api and worker processes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { migrate } from './db/migrate.ts';
import { openServices, prepareDatabase, startApi } from './runtime.ts';

export const SERVER_COMMANDS = new Set(['dev', 'api', 'worker']);

type Stop = () => Promise<void>;

/** A secret kept in the data dir so a dev install survives restarts without configuration. */
function devSecret(config: Config, file: string, make: () => string): { value: string; created: boolean } {
  const p = path.join(config.dataDir, file);
  if (fs.existsSync(p)) {
    fs.chmodSync(p, 0o600); // one made by an older Parley may be readable by others
    return { value: fs.readFileSync(p, 'utf8').trim(), created: false };
  }
  const value = make();
  fs.writeFileSync(p, value + '\n', { mode: 0o600 });
  return { value, created: true };
}

async function runDev(config: Config, stops: Stop[], fatal: () => Promise<void>): Promise<void> {
  // The data dir holds the dev secrets, the embedded PostgreSQL and Temporal's history: the owner's
  // only (the embedded PostgreSQL adds o+x when it runs as the postgres user, to reach its cluster).
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const { mode } = fs.statSync(config.dataDir);
  if ((mode & 0o066) !== 0) fs.chmodSync(config.dataDir, mode & 0o711);
  // Dev-only modules load lazily: `parley api`/`parley worker` never pull them in.
  const { startEmbeddedPostgres } = await import('./dev/postgres.ts');
  const { startTemporalDevServer } = await import('./dev/temporal.ts');
  if (!config.databaseUrl) {
    const pg = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, 'postgres'),
      passwordFile: path.join(config.dataDir, 'postgres.password'),
      onNotice: (m) => console.log(m),
      // Like Temporal below: without its database Parley can do nothing, so say so and stop.
      onUnexpectedExit: (how) => {
        console.error(`The embedded PostgreSQL ${how}; Parley cannot run without its database. Stopping.`);
        void fatal();
      },
    });
    stops.push(pg.stop);
    await pg.ensureDatabase('parley');
    config.databaseUrl = pg.urlFor('parley');
  }
  let uiUrl: string | undefined;
  if (!config.temporalAddress) {
    const temporal = await startTemporalDevServer({
      ...(config.temporalCliPath ? { cliPath: config.temporalCliPath } : {}),
      dbFile: path.join(config.dataDir, 'temporal.sqlite'),
      uiPort: config.temporalUiPort,
      // By default the CLI's default address, so `temporal workflow signal ...` reaches it without flags.
      port: config.temporalPort,
      pidFile: path.join(config.dataDir, 'temporal.pid'),
      onNotice: (m) => console.log(m),
      // Without Temporal no turn can run: say so in one line and stop, rather than retrying quietly.
      onUnexpectedExit: (how) => {
        console.error(`The Temporal dev server ${how}; Parley cannot run turns without it. Stopping.`);
        void fatal();
      },
    });
    stops.push(temporal.stop);
    config.temporalAddress = temporal.address;
    uiUrl = temporal.uiUrl;
  }
  config.secretKey ??= devSecret(config, 'secret.key', () => crypto.randomBytes(32).toString('base64url')).value;
  const tokenFile = path.join(config.dataDir, 'admin.token');
  let adminLine = 'from PARLEY_ADMIN_TOKEN';
  if (!config.adminToken) {
    const token = devSecret(config, 'admin.token', () => `prl_${crypto.randomBytes(24).toString('base64url')}`);
    config.adminToken = token.value;
    // Shown once, when it is made: terminals and their scrollback are logged and shared.
    adminLine = token.created ? `${token.value}   (new; kept in ${tokenFile})` : `in ${tokenFile}`;
  }

  const services = openServices({ ...config, databaseUrl: config.databaseUrl });
  stops.push(services.close);
  await prepareDatabase(services);
  // Loaded only where a worker runs: `parley api` needs neither the SDK's native core nor webpack.
  const { startWorker } = await import('./worker/worker.ts');
  const worker = await startWorker(services);
  stops.push(worker.shutdown);
  const api = await startApi(services);
  stops.push(api.close);
  console.log(`Parley is running.
  API:          ${api.url}/api/v1   (docs: ${api.url}/api/v1/docs)
  Admin token:  ${adminLine}
  Temporal UI:  ${uiUrl ?? `(external Temporal at ${config.temporalAddress})`}
  PostgreSQL:   ${config.databaseUrl.replace(/:[^:@/]+@/, ':***@')}`);
}

function requireExternal(config: Config, command: string): asserts config is Config & { databaseUrl: string; temporalAddress: string } {
  const missing = [!config.databaseUrl && 'DATABASE_URL', !config.temporalAddress && 'TEMPORAL_ADDRESS'].filter(Boolean);
  if (missing.length) throw new ConfigError(missing.map((m) => `${m} is required for \`parley ${command}\` (\`parley dev\` starts local servers instead)`));
}

export async function runServerCommand(command: string): Promise<void> {
  const config = loadConfig();
  const stops: Stop[] = [];
  let stopping = false;
  const shutdown = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    if (signal) console.log(`${signal}: shutting down`);
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(err));
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    await startCommand(command, config, stops, () => shutdown('', 1), () => stopping);
  } catch (err) {
    // What did start (an embedded PostgreSQL, a Temporal dev server) must not outlive a failed start:
    // a PostgreSQL left running would hold the data dir and refuse the next start.
    stopping = true;
    for (const stop of stops.reverse()) await stop().catch(() => {});
    throw err;
  }
}

async function startCommand(command: string, config: Config, stops: Stop[], fatal: () => Promise<void>, stopping: () => boolean): Promise<void> {
  switch (command) {
    case 'dev':
      await runDev(config, stops, fatal);
      break;
    case 'api': {
      requireExternal(config, 'api');
      const services = openServices(config);
      stops.push(services.close);
      await prepareDatabase(services);
      const api = await startApi(services);
      stops.push(api.close);
      console.log(`Parley API listening on ${api.url}`);
      break;
    }
    case 'worker': {
      requireExternal(config, 'worker');
      const services = openServices(config);
      stops.push(services.close);
      await migrate(config.databaseUrl);
      const { startWorker } = await import('./worker/worker.ts');
      const worker = await startWorker(services);
      stops.push(worker.shutdown);
      console.log(`Parley worker polling task queue "${config.taskQueue}" at ${config.temporalAddress}`);
      // A worker that stops on its own (fatal error) must take the process down.
      worker.done.then(() => { if (!stopping()) process.exit(1); }, (err) => { console.error(err); process.exit(1); });
      break;
    }
    default:
      throw new ConfigError([`unknown command "${command}"`]);
  }
}
