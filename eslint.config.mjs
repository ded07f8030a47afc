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
