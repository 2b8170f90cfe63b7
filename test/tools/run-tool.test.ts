// runTool, the one entry to the agent's tools: the tool list, argument checks and error results.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTool, toolSpecs, ToolError } from '../../src/tools/index.ts';
import { base, ctx, errorOf, okText, useToolWorkspaces, ws } from '../support/tool-workspace.ts';

useToolWorkspaces();

describe('runTool', () => {
  it('offers the five workspace tools and ask_user_question with object schemas', () => {
    expect(toolSpecs.map((t) => t.name).sort()).toEqual(['ask_user_question', 'edit_file', 'execute', 'list_files', 'read_file', 'write_file']);
    for (const spec of toolSpecs) {
      expect(spec.description.length).toBeGreaterThan(20);
      expect(spec.parameters).toMatchObject({ type: 'object', additionalProperties: false });
    }
    const edit = toolSpecs.find((t) => t.name === 'edit_file')!;
    expect(edit.parameters.required).toEqual(['path', 'old_text', 'new_text']);
  });

  it('returns an error result for an unknown tool', async () => {
    const msg = await errorOf('rm_rf', {});
    expect(msg).toMatch(/Unknown tool "rm_rf"/);
    expect(msg).toContain('read_file');
  });

  it('names a missing, wrongly typed or unknown argument', async () => {
    expect(await errorOf('write_file', { path: 'a.txt' })).toMatch(/Missing required argument "content"/);
    expect(await errorOf('read_file', { path: 42 })).toMatch(/"path".*must be a string.*number 42/);
    expect(await errorOf('read_file', { path: 'a', offset: '2' })).toMatch(/"offset".*must be an integer/);
    expect(await errorOf('read_file', { path: 'a', offset: 1.5 })).toMatch(/"offset".*must be an integer/);
    expect(await errorOf('read_file', { path: 'a', offset: 0 })).toMatch(/"offset".*at least 1/);
    expect(await errorOf('edit_file', { path: 'a', old_text: 'x', new_text: 'y', replace_all: 'yes' })).toMatch(/"replace_all".*must be a boolean/);
    expect(await errorOf('edit_file', { path: 'a', old_text: 'x', new_text: 'y', replaceAll: true })).toMatch(/Unknown argument "replaceAll"/);
    expect(await errorOf('read_file', '{"path":"a"}')).toMatch(/must be a JSON object/);
    expect(await errorOf('read_file', ['a'])).toMatch(/must be a JSON object, got an array/);
  });

  it('treats null as absent for optional arguments', async () => {
    await writeFile(join(ws, 'a.txt'), 'one\ntwo\n');
    expect(await okText('read_file', { path: 'a.txt', offset: null, limit: null })).toBe('one\ntwo\n');
    expect(await errorOf('read_file', { path: null })).toMatch(/"path" for read_file must be a string, got null/);
  });

  it('turns fs errors into messages with workspace-relative paths', async () => {
    const msg = await errorOf('read_file', { path: 'missing/file.txt' });
    expect(msg).toBe('No such file or directory: "missing/file.txt"');
    expect(msg).not.toContain(base);
  });

  it('throws an AbortError when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(runTool('list_files', {}, ctx({}, ac.signal))).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('exports ToolError as an Error subclass', () => {
    expect(new ToolError('x')).toBeInstanceOf(Error);
  });
});
