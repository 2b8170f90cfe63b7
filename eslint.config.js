import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
    // Workflow code runs in Temporal's deterministic sandbox: only types may come from activities,
    // and wall-clock/random APIs must come from @temporalio/workflow.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/activities/**', '!**/activities/types.ts'], message: 'Workflows import only types from activities (use import type).', allowTypeImports: true },
          { group: ['node:*', 'pg', 'openai', '@anthropic-ai/sdk', 'fastify'], message: 'No I/O in workflow code.' },
        ],
      }],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'Deterministic code: Date.now is replaced by the SDK only inside workflows; avoid it.' },
        { object: 'Math', property: 'random', message: 'Use workflow uuid4() or deterministic ids.' },
      ],
    },
  },
);
