// Processes `parley dev` left behind (a killed run's PostgreSQL or Temporal dev server).

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits up to `timeoutMs` for the process to exit; true when it did. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  for (let waited = 0; isAlive(pid) && waited < timeoutMs; waited += 100) await new Promise((r) => setTimeout(r, 100));
  return !isAlive(pid);
}
