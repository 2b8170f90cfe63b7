#!/usr/bin/env node
// `parley`: server commands (dev, api, worker: src/server.ts) and client commands (src/client).
// Each side is imported only when used, so client commands start without loading Temporal or pg.
import { CLIENT_COMMANDS, CLIENT_USAGE } from './cli/usage.ts';

const USAGE = `Usage: parley <command>

Server commands:
  dev      Everything in one process: embedded PostgreSQL (unless DATABASE_URL), a Temporal dev
           server with Web UI (unless TEMPORAL_ADDRESS), one worker and the API.
  api      The REST API (needs DATABASE_URL and TEMPORAL_ADDRESS).
  worker   A Temporal worker for chat turns (needs DATABASE_URL and TEMPORAL_ADDRESS).
  bundle-workflows <file>
           Build the worker's workflow bundle into <file>; a worker started with
           PARLEY_WORKFLOW_BUNDLE=<file> loads it instead of bundling at start.

Configuration comes from the environment; see README.md.

${CLIENT_USAGE}`;

async function main(argv: string[]): Promise<void> {
  const command = argv[0];
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return;
  }
  // Clients need no server config and own Ctrl-C themselves.
  if (CLIENT_COMMANDS.has(command)) {
    const { runClientCommand } = await import('./cli/commands.ts');
    process.exitCode = await runClientCommand(argv);
    return;
  }
  if (command === 'bundle-workflows') {
    await bundleWorkflowsCommand(argv.slice(1));
    return;
  }
  const { SERVER_COMMANDS, runServerCommand } = await import('./server.ts');
  if (!SERVER_COMMANDS.has(command)) {
    console.error(`parley: unknown command "${command}"\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  await runServerCommand(command);
}

async function bundleWorkflowsCommand(args: string[]): Promise<void> {
  const [file] = args;
  if (!file || args.length > 1) {
    console.error('Usage: parley bundle-workflows <file>');
    process.exitCode = 2;
    return;
  }
  const { writeWorkflowBundle } = await import('./worker/bundle-workflows.ts');
  try {
    await writeWorkflowBundle(file);
  } catch (err) {
    // Webpack's report is the message; a stack trace would only bury it.
    console.error((err as Error).message);
    process.exitCode = 1;
    return;
  }
  console.log(`Workflow bundle written to ${file}`);
}

main(process.argv.slice(2)).catch(async (err) => {
  // A message a person can act on; the stack trace only when asked for (LOG_LEVEL=debug or trace).
  const verbose = /^(debug|trace)$/i.test(process.env.LOG_LEVEL ?? '');
  const message = err instanceof Error ? err.message || err.name : `failed: ${String(err)}`;
  console.error(verbose && err instanceof Error && err.stack ? err.stack : `parley: ${message}`);
  process.exit(1);
});
