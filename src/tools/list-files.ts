import type { Dirent } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { at, DIR_FLAGS, handlePath } from './dir-handle.ts';
import { ToolError } from './errors.ts';
import { defineTool, ok } from './tool.ts';
import { withEntry } from './workspace.ts';

export const MAX_LIST_ENTRIES = 500;
/** Listed but not descended into when recursing: huge and rarely what the model is after. */
const NOT_DESCENDED = new Set(['.git', 'node_modules']);

export interface ListEntry {
  /** Relative to the workspace, so it can be passed straight to the other tools. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** Files only. */
  size?: number;
  /** Set on a directory the walk could not read. */
  unreadable?: true;
}

export const listFilesTool = defineTool({
  name: 'list_files',
  local: true,
  description:
    'List a workspace directory: each entry with its path (relative to the workspace), type ' +
    '(file, dir, symlink, other) and size in bytes for files. Sorted by name; recursive listings show ' +
    `a directory's contents right after it. At most ${MAX_LIST_ENTRIES} entries; symlinks are not followed ` +
    `and ${[...NOT_DESCENDED].join(' and ')} are not expanded when recursing.`,
  fields: {
    path: { type: 'string', description: 'Directory relative to the workspace. Default "." (the workspace itself).' },
    recursive: { type: 'boolean', description: 'Also list subdirectories, depth first. Default false.' },
  },
  async run(args, ctx) {
    return withEntry(ctx.workspaceDir, args.path ?? '.', {}, async (target) => {
      const { display } = target;
      if (target.stat?.isDirectory() !== true) {
        throw new ToolError(`${JSON.stringify(display)} is not a directory; use read_file to read a file.`);
      }
      const entries: ListEntry[] = [];
      const notExpanded: string[] = [];
      let capped = false;

      // Each directory is read through its own handle and its entries looked at relative to it, so a
      // directory swapped for a symlink mid-walk is seen as the symlink it now is, never followed.
      const walk = async (dir: FileHandle, dirDisplay: string): Promise<void> => {
        const dirents: Dirent[] = await readdir(handlePath(dir), { withFileTypes: true });
        dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        for (const d of dirents) {
          if (entries.length >= MAX_LIST_ENTRIES) {
            capped = true;
            return;
          }
          const path = dirDisplay === '.' ? d.name : `${dirDisplay}/${d.name}`;
          const type = d.isDirectory() ? 'dir' : d.isFile() ? 'file' : d.isSymbolicLink() ? 'symlink' : 'other';
          const entry: ListEntry = { path, type };
          if (type === 'file') entry.size = await sizeOf(at(dir, d.name));
          entries.push(entry);
          if (type === 'dir' && args.recursive === true) {
            if (NOT_DESCENDED.has(d.name)) notExpanded.push(path);
            else await walkChild(dir, d.name, entry);
            if (capped) return;
          }
        }
      };
      const walkChild = async (parent: FileHandle, name: string, self: ListEntry): Promise<void> => {
        let child: FileHandle;
        try {
          child = await open(at(parent, name), DIR_FLAGS);
        } catch {
          self.unreadable = true; // unreadable, or no longer a directory
          return;
        }
        try {
          await walk(child, self.path);
        } catch {
          self.unreadable = true;
        } finally {
          await child.close();
        }
      };
      await walk(await target.openDir(), display);

      const notes: string[] = [];
      if (capped) {
        notes.push(`[Listing capped at ${MAX_LIST_ENTRIES} entries; list a subdirectory (or list without recursive) to see the rest.]`);
      }
      if (notExpanded.length > 0) {
        notes.push(`[Not expanded: ${notExpanded.join(', ')}. Pass such a directory as path to list it.]`);
      }
      if (entries.length === 0) notes.push('[The directory is empty.]');
      return ok({ path: display, entries, ...(notes.length > 0 ? { note: notes.join(' ') } : {}) });
    });
  },
});

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await lstat(file)).size;
  } catch {
    return undefined; // deleted between readdir and lstat
  }
}
