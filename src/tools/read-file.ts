import type { FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { ToolError } from './errors.ts';
import { defineTool, ok } from './tool.ts';
import { headUtf8 } from './utf8.ts';
import { withEntry } from './workspace.ts';

/** Bytes inspected for NUL to tell binary from text. */
const SNIFF_BYTES = 8192;

export const readFileTool = defineTool({
  name: 'read_file',
  local: true,
  description:
    'Read a UTF-8 text file from the workspace. Returns the exact file content (no line numbers). ' +
    'Large files are cut at a size cap; a bracketed note at the end then says which lines were shown ' +
    'and which offset continues. Use offset/limit to page through long files.',
  fields: {
    path: { type: 'string', required: true, description: 'File path relative to the workspace directory.' },
    offset: { type: 'integer', minimum: 1, description: 'First line to return, 1-based. Default 1.' },
    limit: { type: 'integer', minimum: 1, description: 'Maximum number of lines to return. Default: as many as fit the size cap.' },
  },
  async run(args, ctx) {
    return withEntry(ctx.workspaceDir, args.path, {}, async (entry) => {
      const { display, stat } = entry;
      if (stat?.isDirectory() === true) throw new ToolError(`${JSON.stringify(display)} is a directory; use list_files to see its contents.`);
      // FIFOs and devices would block or never end.
      if (stat?.isFile() !== true) throw new ToolError(`${JSON.stringify(display)} is not a regular file.`);
      const { handle } = await entry.openFile();
      return ok(await readLines(handle, display, args.offset ?? 1, args.limit, ctx.limits.outputCapBytes));
    });
  },
});

type StopReason = 'eof' | 'limit' | 'cap';

/**
 * Streams the file, keeping line endings intact (so the text can be fed back to edit_file verbatim)
 * and stopping as soon as the requested window is filled: paging through a huge log stays cheap.
 */
async function readLines(file: FileHandle, display: string, offset: number, limit: number | undefined, cap: number): Promise<string> {
  const decoder = new StringDecoder('utf8');
  const taken: string[] = [];
  let takenBytes = 0;
  let lineNo = 1; // number of the line `pending` belongs to
  let pending = '';
  let sniffed = false;
  // Assigned inside `accept`; the cast keeps TS from narrowing it to 'eof' for good.
  let stop = 'eof' as StopReason;
  let cutLine = false;

  // Returns false once the window is full.
  const accept = (line: string): boolean => {
    if (lineNo < offset) {
      lineNo++;
      return true;
    }
    if (limit !== undefined && taken.length >= limit) {
      stop = 'limit';
      return false;
    }
    const bytes = Buffer.byteLength(line);
    if (takenBytes + bytes > cap) {
      if (taken.length === 0) {
        // A single line longer than the cap: show its beginning rather than nothing.
        taken.push(headUtf8(Buffer.from(line), cap).toString('utf8'));
        lineNo++;
        cutLine = true;
      }
      stop = 'cap';
      return false;
    }
    taken.push(line);
    takenBytes += bytes;
    lineNo++;
    return true;
  };

  // The handle stays open (withEntry closes it); the stream only reads from it.
  const stream = file.createReadStream({ highWaterMark: 64 * 1024, autoClose: false, start: 0 });
  try {
    reading: for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (!sniffed) {
        sniffed = true;
        if (chunk.subarray(0, SNIFF_BYTES).includes(0)) {
          throw new ToolError(
            `${JSON.stringify(display)} looks like a binary file (it contains NUL bytes); read_file returns text only. ` +
            'Use execute (e.g. `xxd FILE | head`) to inspect it.');
        }
      }
      pending += decoder.write(chunk);
      let nl: number;
      while ((nl = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, nl + 1);
        pending = pending.slice(nl + 1);
        if (!accept(line)) break reading;
      }
      // One enormous line (minified code, a binary-ish blob): do not buffer it all.
      if (pending.length > cap) {
        if (lineNo < offset) {
          pending = ''; // still inside a skipped line; only its end matters
        } else if (!accept(pending)) {
          break;
        }
      }
    }
    if (stop === 'eof') {
      const last = pending + decoder.end();
      if (last !== '') accept(last);
    }
  } finally {
    stream.destroy();
  }

  const content = taken.join('');
  const first = offset;
  const lastShown = offset + taken.length - 1;
  const shownLines = first === lastShown ? `line ${first}` : `lines ${first}-${lastShown}`;
  let note: string | undefined;
  if (stop === 'eof') {
    const total = lineNo - 1;
    if (total === 0 && offset === 1) note = '[The file is empty.]';
    else if (taken.length === 0) note = `[The file has ${total} line${total === 1 ? '' : 's'}; offset ${offset} is past the end.]`;
    else if (offset > 1) note = `[Showing ${shownLines}, the end of the file.]`;
  } else if (stop === 'limit') {
    note = `[Showing ${shownLines}; the file continues. Use offset=${lastShown + 1} to read more.]`;
  } else if (cutLine) {
    note = `[Output truncated: line ${first} is longer than the ${cap}-byte cap; only its beginning is shown. ` +
      'Use execute (e.g. `cut -c` or `head -c`) to see the rest.]';
  } else {
    note = `[Output truncated at the ${cap}-byte cap: showing ${shownLines}. Use offset=${lastShown + 1} to read more.]`;
  }
  if (note === undefined) return content;
  return content === '' ? note : `${content}${content.endsWith('\n') ? '' : '\n'}${note}`;
}
