// The common end of the bench's own worker processes (the Workflow Streams peer, the Temporal
// floor): run `start` and the worker it returns until SIGTERM/SIGINT, printing `ready` (the line the
// bench waits for) once it polls; any failure exits non-zero with the error on stderr.
import type { Worker } from '@temporalio/worker';

export function serveWorker(ready: string, start: () => Promise<Worker>): void {
  (async () => {
    const worker = await start();
    const shutdown = () => worker.shutdown();
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
    console.log(ready);
    await worker.run();
    process.exit(0);
  })().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
