import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Later config objects replace a rule's options for the files they match, so every layer's list
// repeats this one.
const noBench = { group: ['**/bench/*', '**/bench'], message: 'Nothing outside bench/ imports bench/.' };

export default tseslint.config(
  { ignores: ['node_modules', 'dist', '.parley', 'coverage', 'test/fixtures'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Tests read black-box JSON responses; typing every one of them adds noise, not safety.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The benchmark harness may use everything; nothing may use it.
    files: ['src/**/*.ts', 'test/**/*.ts', 'bin/**/*.js'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        noBench,
      ] }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: it may import its own folder (the
    // contract, the compaction rules), shared types and the SDK's workflow API, nothing with I/O.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['../*', '!../shared', '../shared/*', '!../shared/types.ts'], message: 'Workflow code imports only its own folder (the contract) and shared types.', allowTypeImports: false },
          { group: ['node:*', 'pg', 'openai', '@anthropic-ai/sdk', 'fastify', '@temporalio/activity', '@temporalio/client', '@temporalio/worker'], message: 'No I/O in workflow code.' },
          noBench,
        ],
      }],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'Deterministic code: Date.now is replaced by the SDK only inside workflows; avoid it.' },
        { object: 'Math', property: 'random', message: 'Use workflow uuid4() or deterministic ids.' },
      ],
    },
  },
  {
    // The repositories are queries: they know nothing of HTTP, Temporal, the use-cases or the worker.
    files: ['src/db/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['../api/*', '../activities/*', '../worker/*', '../chats/*', '../temporal/*', '@temporalio/client', '@temporalio/worker', 'fastify'], message: 'db/ holds queries only: no HTTP, Temporal, use-cases or worker code (see docs/ARCHITECTURE.md).' },
        noBench,
      ] }],
    },
  },
  {
    // The event log and hub: storage and fan-out, below the use-cases.
    files: ['src/events/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['../chats/*', '../api/*', '../activities/*', '../worker/*'], message: 'events/ sits below the use-cases and the API (see docs/ARCHITECTURE.md).' },
        noBench,
      ] }],
    },
  },
  {
    // The use-cases speak domain errors, never HTTP.
    files: ['src/chats/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['../api/*', 'fastify'], message: 'Use-cases throw domain errors (src/shared/errors.ts); the API maps them to HTTP.' },
        noBench,
      ] }],
    },
  },
);
