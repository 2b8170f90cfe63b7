// @temporalio/workflow-streams 1.23.0 pins exact @temporalio/* 1.23.0 dependencies, so npm nests
// its own copies under it. Two @temporalio/proto copies in one process register the same protobuf
// names in the one (deduplicated) protobufjs root and the second load throws "duplicate name".
// This resolve hook makes the package's imports of @temporalio/* resolve to our 1.24 copies, which
// is what an npm `overrides` entry would do at install time. Call before importing the package.
import { createRequire, registerHooks } from 'node:module';
import { pathToFileURL } from 'node:url';

const NESTED = '/node_modules/@temporalio/workflow-streams/';
const TEMPORAL = /^@temporalio\/(activity|client|common|proto|workflow)(\/|$)/;
const ours = createRequire(import.meta.url);
let installed = false;

export function useOurTemporalPackages(): void {
  if (installed) return;
  installed = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (TEMPORAL.test(specifier) && context.parentURL?.includes(NESTED)) {
        // The default resolver ignores a changed parentURL for require(): resolve from here ourselves.
        return { url: pathToFileURL(ours.resolve(specifier)).href, shortCircuit: true };
      }
      return nextResolve(specifier, context);
    },
  });
}
