// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-check/**', 'node_modules/**', 'coverage/**', 'packages/*/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // The build and install scripts run in Node, as modules.
    files: ['scripts/**/*.js', 'packages/*/scripts/**/*.js'],
    languageOptions: { globals: globals.node, sourceType: 'module' },
  },
  {
    // The console's script runs in the browser, as a module.
    files: ['src/server/console/**/*.js'],
    languageOptions: { globals: globals.browser, sourceType: 'module' },
  },
  {
    // deploy/healthcheck.js runs as a plain Node script, installed without its .js.
    files: ['deploy/**/*.js'],
    languageOptions: { globals: globals.node, sourceType: 'script' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    // Tests read JSON answers whose shape they assert; typing each one would add nothing.
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
