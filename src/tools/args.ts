// A tiny argument schema: one declaration yields both the JSON Schema the model sees and the
// checks runTool applies, so the two cannot drift apart.
import { ToolError } from './errors.ts';

export interface FieldDef {
  /** `strings`: an array of strings. */
  type: 'string' | 'integer' | 'boolean' | 'strings';
  description: string;
  required?: boolean;
  /** Integers only. */
  minimum?: number;
}

export type FieldDefs = Record<string, FieldDef>;

type ValueOf<F extends FieldDef> =
  F['type'] extends 'string' ? string : F['type'] extends 'boolean' ? boolean : F['type'] extends 'strings' ? string[] : number;

/** The typed arguments object a field declaration describes. */
export type ArgsOf<P extends FieldDefs> =
  { [K in keyof P as P[K]['required'] extends true ? K : never]: ValueOf<P[K]> } &
  { [K in keyof P as P[K]['required'] extends true ? never : K]?: ValueOf<P[K]> };

export function toJsonSchema(fields: FieldDefs): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fields)) {
    properties[name] = {
      ...(f.type === 'strings' ? { type: 'array', items: { type: 'string' } } : { type: f.type }),
      description: f.description,
      ...(f.minimum !== undefined ? { minimum: f.minimum } : {}),
    };
  }
  const required = Object.entries(fields).filter(([, f]) => f.required === true).map(([name]) => name);
  return { type: 'object', properties, required, additionalProperties: false };
}

/**
 * Checks `args` against `fields`. Unknown fields are refused rather than ignored: a model that sends
 * `replaceAll` instead of `replace_all` must learn it, not silently get a single replacement.
 * `null` counts as absent for optional fields, as several models send it for "not given".
 */
export function parseArgs<P extends FieldDefs>(toolName: string, fields: P, args: unknown): ArgsOf<P> {
  const input = args ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ToolError(`Arguments for ${toolName} must be a JSON object, got ${describe(input)}.`);
  }
  const given = input as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(fields, key)) {
      throw new ToolError(
        `Unknown argument "${key}" for ${toolName}. Allowed arguments: ${Object.keys(fields).join(', ')}.`);
    }
  }
  for (const [name, f] of Object.entries(fields)) {
    const value = given[name];
    if (value === undefined || (value === null && f.required !== true)) {
      if (f.required === true) throw new ToolError(`Missing required argument "${name}" (${f.type}) for ${toolName}.`);
      continue;
    }
    out[name] = checkValue(toolName, name, f, value);
  }
  return out as ArgsOf<P>;
}

function checkValue(toolName: string, name: string, f: FieldDef, value: unknown): unknown {
  const wrong = () => new ToolError(`Argument "${name}" for ${toolName} must be ${article(f.type)}, got ${describe(value)}.`);
  switch (f.type) {
    case 'string':
      if (typeof value !== 'string') throw wrong();
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw wrong();
      return value;
    case 'strings':
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw wrong();
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw wrong();
      if (f.minimum !== undefined && value < f.minimum) {
        throw new ToolError(`Argument "${name}" for ${toolName} must be at least ${f.minimum}, got ${value}.`);
      }
      return value;
  }
}

function article(type: string): string {
  return type === 'integer' ? 'an integer' : type === 'strings' ? 'an array of strings' : `a ${type}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)})`;
  if (typeof value === 'number') return `the number ${value}`;
  return `a ${typeof value}`;
}
