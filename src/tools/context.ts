// Shapes shared by every tool and by the activities that call them.
import type { Sandbox } from './sandbox.ts';

export interface ToolLimits {
  /** Default `execute` timeout when the model gives none. */
  executeTimeoutMs: number;
  /** Upper bound for a model-requested `execute` timeout; larger requests are clamped. */
  executeMaxTimeoutMs: number;
  /** Cap on text returned to the model (command output, file content). */
  outputCapBytes: number;
}

export const defaultToolLimits: ToolLimits = {
  executeTimeoutMs: 10_000,
  executeMaxTimeoutMs: 600_000,
  outputCapBytes: 32 * 1024,
};

export interface ToolContext {
  /** The chat's workspace (as returned by `ensureWorkspace`); every path is confined to it. */
  workspaceDir: string;
  /** Aborted when the user interrupts the turn: tools then reject with an error named 'AbortError'. */
  signal: AbortSignal;
  limits: ToolLimits;
  /** Where `execute` runs its commands (src/tools/sandbox.ts). */
  sandbox: Sandbox;
}

/** What the model sees. `isError` results are still delivered to the model, never thrown. */
export interface ToolOutcome {
  result: unknown;
  isError: boolean;
}
