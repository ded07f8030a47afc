// Lint is part of `npm test`. Type-aware rules catch the mistakes that matter in
// an async service: floating promises and misused promises in callbacks.
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // clients/typescript/src/openapi.ts is openapi-typescript's output (npm run gen:client-types), checked
    // for drift by a test, not edited by hand.
    ignores: [
      '**/dist/**',
      'node_modules/**',
      'coverage/**',
      'clients/python/**',
      'clients/typescript/src/openapi.ts',
      'bench/results/**',
      'src/ui/static/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
    },
  },
  {
    // No import cycles: a module graph that can be read bottom-up (and no
    // half-initialised module at require time). Type-only imports count too:
    // this rule skips them, so `npx madge --circular --extensions ts src bench test support`
    // is the check for those.
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'support/**/*.ts', 'scripts/**/*.ts', 'clients/typescript/src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json', '.node'] })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    // The embedded store and what it shares with Redis's must load without a
    // Redis client (test/pool/memory.test.ts checks the whole import graph).
    files: ['src/pool/memory.ts', 'src/pool/rules.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['ioredis', './redis', './connect', './scripts', './notifier', './replication'], message: 'the embedded store must not load ioredis: put what both stores share in src/pool/rules.ts' }] }],
    },
  },
  {
    // Routes see one service (issue 11): the route table and what it is derived into call PoolService
    // (src/pool/poolService.ts), never a store, the long-poll waiter (pool/longPoll) or the Telegram error table directly.
    files: ['src/http/app.ts', 'src/http/routes.ts', 'src/http/present.ts', 'src/http/openapi.ts', 'src/http/responses.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...['../pool/longPoll', '../pool/redis', '../pool/memory', '../pool/notifier'].map((name) => ({ name, message: 'Routes call PoolService (src/pool/poolService.ts).' })),
            { name: '../pool/types', importNames: ['PoolStore'], message: 'Routes call PoolService (src/pool/poolService.ts), not the store.' },
            { name: '../telegram/errors', importNames: ['decide'], message: 'PoolService.report applies the Telegram error table.' },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'support/**/*.ts'],
    rules: {
      // supertest types every response body as `any`: tests read fields off it
      // and assert them; the assertion is the type check.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unused-expressions': 'off',
      'no-console': 'off',
    },
  },
  {
    // Command-line tools (npm run gen:client-types) report on stdout.
    files: ['scripts/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
