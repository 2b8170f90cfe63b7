import { writeFileAtomic } from './atomic-write.ts';
import { ToolError } from './errors.ts';
import { defineTool, ok } from './tool.ts';
import { withEntry } from './workspace.ts';

/** Files are edited in memory; beyond this, editing by exact text is not a sensible tool anyway. */
export const MAX_EDIT_BYTES = 10 * 1024 * 1024;

export const editFileTool = defineTool({
  name: 'edit_file',
  local: true,
  description:
    'Replace an exact piece of text in an existing workspace file. old_text must match the file ' +
    'exactly (whitespace and indentation included) and, unless replace_all is true, exactly once; ' +
    'include enough surrounding lines to make it unique. The write is atomic.',
  fields: {
    path: { type: 'string', required: true, description: 'File path relative to the workspace directory.' },
    old_text: { type: 'string', required: true, description: 'The exact text to find.' },
    new_text: { type: 'string', required: true, description: 'The text to put in its place.' },
    replace_all: { type: 'boolean', description: 'Replace every occurrence instead of requiring exactly one. Default false.' },
  },
  async run(args, ctx) {
    if (args.old_text === '') throw new ToolError('old_text must not be empty; use write_file to create or replace a whole file.');
    if (args.old_text === args.new_text) throw new ToolError('old_text and new_text are identical; nothing would change.');
    return withEntry(ctx.workspaceDir, args.path, {}, async (entry) => {
      const shown = JSON.stringify(entry.display);
      if (entry.stat?.isDirectory() === true) throw new ToolError(`${shown} is a directory, not a file.`);
      if (entry.stat?.isFile() !== true) throw new ToolError(`${shown} is not a regular file.`);
      const { handle, stat } = await entry.openFile();
      if (stat.size > MAX_EDIT_BYTES) {
        throw new ToolError(`${shown} is ${stat.size} bytes; edit_file handles files up to ${MAX_EDIT_BYTES} bytes. Use execute (e.g. sed) instead.`);
      }
      const text = await handle.readFile('utf8');
      const positions = occurrences(text, args.old_text);
      if (positions.length === 0) throw new ToolError(notFoundMessage(text, args.old_text, shown));
      if (positions.length > 1 && args.replace_all !== true) {
        throw new ToolError(
          `old_text appears ${positions.length} times in ${shown}; it must match exactly once. ` +
          'Include more surrounding context to make it unique, or set replace_all to true to replace every occurrence.');
      }
      // Spliced by index, not String.replace: `$&`, `$1` in new_text must stay literal.
      let result = '';
      let from = 0;
      for (const at of positions) {
        result += text.slice(from, at) + args.new_text;
        from = at + args.old_text.length;
      }
      result += text.slice(from);
      // The mode is the opened file's, so it is kept even if the name was swapped meanwhile.
      await writeFileAtomic({ ...entry, stat }, result);
      const n = positions.length;
      return ok(`Replaced ${n} occurrence${n === 1 ? '' : 's'} in ${shown}.`);
    });
  },
});

/** Start indexes of non-overlapping occurrences, left to right. */
function occurrences(text: string, search: string): number[] {
  const found: number[] = [];
  for (let at = text.indexOf(search); at !== -1; at = text.indexOf(search, at + search.length)) found.push(at);
  return found;
}

function notFoundMessage(text: string, search: string, shown: string): string {
  let msg = `old_text was not found in ${shown}. It must match the file exactly, including whitespace and indentation; read the file again and copy the text.`;
  // The most common near miss: the model writes \n while the file uses \r\n.
  if (text.includes('\r\n') && !search.includes('\r') && text.includes(search.replace(/\n/g, '\r\n'))) {
    msg += ' Note: the file uses CRLF (\\r\\n) line endings and old_text would match with them.';
  }
  return msg;
}
