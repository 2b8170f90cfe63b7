import { writeFileAtomic } from './atomic-write.ts';
import { defineTool, ok } from './tool.ts';
import { withEntry } from './workspace.ts';

export const writeFileTool = defineTool({
  name: 'write_file',
  local: true,
  description:
    'Create or overwrite a text file in the workspace with the given content (UTF-8). Missing parent ' +
    'directories are created. The write is atomic. To change part of an existing file prefer edit_file.',
  fields: {
    path: { type: 'string', required: true, description: 'File path relative to the workspace directory.' },
    content: { type: 'string', required: true, description: 'The complete new content of the file.' },
  },
  async run(args, ctx) {
    // A hard-linked file is overwritten by renaming over this link: its other links keep their content.
    const { existed, display } = await withEntry(ctx.workspaceDir, args.path, { allowMissing: true, createParents: true },
      async (entry) => ({ ...(await writeFileAtomic(entry, args.content)), display: entry.display }));
    const bytes = Buffer.byteLength(args.content);
    return ok(`${existed ? 'Overwrote' : 'Created'} ${JSON.stringify(display)} (${bytes} byte${bytes === 1 ? '' : 's'}).`);
  },
});
