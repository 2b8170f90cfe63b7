#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=25
// Parley runs its TypeScript sources directly on Node's built-in type stripping (Node >= 22.18).
// --max-semi-space-size=8: V8 sizes each isolate's young generation by the machine's memory (up to
// 128 MB on a large machine), and a worker has two isolates (main thread and workflow thread); a
// small one keeps a worker's memory near what it really uses, for a little more frequent scavenging.
// --heap-growing-percent=25: the old generation is collected once it has grown 25% past what the last
// collection kept, instead of V8's own factor (up to 4x when collections look slow, as on a busy
// machine). A worker's garbage comes in bursts, and V8 keeps the pages of its busiest moment
// resident until the worker is idle: this caps that high-water mark.
// Both trade a little CPU for memory; docs/BENCHMARKS.md has the measurements (P9, P20, P22).
// The Dockerfile and `npm start` pass the same flags (test/dev/node-flags.test.ts checks it).
import '../src/cli.ts';
