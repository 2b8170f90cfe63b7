// The tool registry: what the model is offered and the single entry point that runs a call.
import { realpath } from 'node:fs/promises';
import type { ToolSpec } from '../providers/index.ts';
import { askUserQuestionTool } from './actions.ts';
import { agentToolSpecs } from './agents.ts';
import { abortError, describeFsError, isAbortError, ToolError } from './errors.ts';
import { editFileTool } from './edit-file.ts';
import { executeTool } from './execute.ts';
import { listFilesTool } from './list-files.ts';
import { readFileTool } from './read-file.ts';
import type { Tool } from './tool.ts';
import type { ToolContext, ToolOutcome } from './context.ts';
import { writeFileTool } from './write-file.ts';

export { ToolError, isAbortError } from './errors.ts';
export { ensureWorkspace } from './workspace.ts';
export { defaultToolLimits } from './context.ts';
export { createSandbox, defaultSandboxSettings } from './sandbox.ts';
export type { Sandbox, SandboxSettings } from './sandbox.ts';
export type { ToolContext, ToolLimits, ToolOutcome } from './context.ts';

const tools: Tool[] = [readFileTool, writeFileTool, editFileTool, listFilesTool, executeTool, askUserQuestionTool];
const byName = new Map(tools.map((t) => [t.spec.name, t]));

export const toolSpecs: ToolSpec[] = tools.map((t) => t.spec);

/** Every tool a chat can be offered, sub-agent tools included: the names a tool policy may use. */
export const allToolNames: readonly string[] = [...toolSpecs, ...agentToolSpecs].map((s) => s.name);

/** Whether the workflow may run this call as a local activity (an unknown name fails fast, so yes). */
export const isLocalTool = (name: string): boolean => byName.get(name)?.local ?? true;

/**
 * Runs one tool call. Every failure the model can do something about — bad arguments, unknown tool,
 * refused paths, missing files, even an unexpected bug — comes back as `{ isError: true, result }`
 * with a readable message. Only an interrupt is thrown: an error named 'AbortError'.
 */
export async function runTool(name: string, args: unknown, ctx: ToolContext): Promise<ToolOutcome> {
  if (ctx.signal.aborted) throw abortError(ctx.signal);
  const tool = byName.get(name);
  if (tool === undefined) {
    return { isError: true, result: `Unknown tool ${JSON.stringify(name)}. Available tools: ${[...byName.keys()].join(', ')}.` };
  }
  let workspaceDir: string;
  try {
    // Confinement compares real paths, so the root must be one too.
    workspaceDir = await realpath(ctx.workspaceDir);
  } catch {
    return { isError: true, result: 'The workspace directory does not exist.' };
  }
  try {
    return await tool.run(args, { ...ctx, workspaceDir });
  } catch (err) {
    if (isAbortError(err) || ctx.signal.aborted) throw isAbortError(err) ? err : abortError(ctx.signal);
    if (err instanceof ToolError) return { isError: true, result: err.message };
    const fsMessage = describeFsError(err, workspaceDir);
    if (fsMessage !== undefined) return { isError: true, result: fsMessage };
    const message = err instanceof Error ? err.message : String(err);
    return { isError: true, result: `${name} failed: ${message.replaceAll(`${workspaceDir}/`, '')}` };
  }
}
