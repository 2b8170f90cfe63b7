import type { ToolSpec } from '../providers/index.ts';
import { parseArgs, toJsonSchema } from './args.ts';
import type { ArgsOf, FieldDefs } from './args.ts';
import type { ToolContext, ToolOutcome } from './context.ts';

/** A registered tool: its spec for the model and a runner that validates untrusted arguments. */
export interface Tool {
  spec: ToolSpec;
  /** See ToolDefinition.local. */
  local: boolean;
  run(args: unknown, ctx: ToolContext): Promise<ToolOutcome>;
}

export interface ToolDefinition<P extends FieldDefs> {
  name: string;
  description: string;
  fields: P;
  /**
   * Short, bounded work in the workspace (milliseconds, capped by the tool limits): the workflow runs
   * it as a local activity, inside the workflow task that asked for it, which saves an activity
   * dispatch and a workflow task per step. Anything that can run long (a process) must not be local.
   */
  local?: boolean;
  /** Throws ToolError (or an fs error) for failures the model should see. */
  run(args: ArgsOf<P>, ctx: ToolContext): Promise<ToolOutcome>;
}

export function defineTool<const P extends FieldDefs>(def: ToolDefinition<P>): Tool {
  return {
    spec: { name: def.name, description: def.description, parameters: toJsonSchema(def.fields) },
    local: def.local ?? false,
    run: (args, ctx) => def.run(parseArgs(def.name, def.fields, args), ctx),
  };
}

export const ok = (result: unknown): ToolOutcome => ({ result, isError: false });
