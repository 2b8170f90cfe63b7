#!/usr/bin/env node
// Parley runs its TypeScript sources directly on Node's built-in type stripping (Node >= 22.18).
import '../src/cli.ts';
