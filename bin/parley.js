#!/usr/bin/env -S node --max-semi-space-size=16
// Parley runs its TypeScript sources directly on Node's built-in type stripping (Node >= 22.18).
// --max-semi-space-size=16: on a machine with many GB, V8 lets each isolate's young generation grow
// to 128 MB; a worker has two (main thread and workflow thread). 16 MB semi-spaces cut the worker's
// RSS at 200 streaming chats from ~540 to ~380 MB at no measurable CPU cost (docs/BENCHMARKS.md).
// The Dockerfile and `npm start` pass the same flag.
import '../src/cli.ts';
