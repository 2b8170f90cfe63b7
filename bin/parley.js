#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=25
// Parley runs its TypeScript sources directly on Node's built-in type stripping (Node >= 22.18).
// --max-semi-space-size=8: on a machine with many GB, V8 lets each isolate's young generation grow
// to 128 MB; a worker has two (main thread and workflow thread). 16 MB semi-spaces cut the worker's
// RSS at 200 streaming chats from ~540 to ~380 MB at no measurable CPU cost; 8 MB took another
// ~40 MB off for more frequent scavenges: turns/s and token latency unchanged, a zero-latency
// agent step +2-4 ms at one chat (docs/BENCHMARKS.md, P9 and P22).
// --heap-growing-percent=25: the old generation is collected when it has grown 25% past what the last
// collection kept, instead of V8's own factor (up to 4x when collections look slow, as on a busy box).
// A worker's garbage arrives in bursts, and V8 keeps the pages of its busiest moment resident until
// the worker is idle: this caps that high-water mark. On the 2-core bench box: worker RSS at 200
// streaming chats 555 -> 412 MB (one same-run pair), and with 8 MB semi-spaces 381 -> 362 MB over
// three alternating pairs, for more frequent full collections; turns/s and token latency unchanged
// within noise in those three pairs (docs/BENCHMARKS.md, P20).
// The Dockerfile and `npm start` pass the same flags.
import '../src/cli.ts';
