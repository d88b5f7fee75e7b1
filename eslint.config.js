import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Import patterns each layer must not use, with the reason ESLint prints. */
const LAYER_RULES = {
  gen: {
    regex: '(^|/)gen/',
    message:
      'Only src/transport/, src/client/ and src/cli/ import the generated code in gen/ (docs/architecture.md, "Layers").',
  },
  domainTransport: {
    regex: '(^|/)transport/',
    message: 'src/domain/ must not import src/transport/: dependencies point transport → domain.',
  },
  domainStorage: {
    regex: '(^|/)storage/',
    message: 'src/domain/ must not import src/storage/: storage implements the interfaces the domain declares.',
  },
  domainLibraries: {
    regex: '^(@grpc/grpc-js|knex)(/|$)',
    message: 'src/domain/ knows nothing about gRPC or knex: keep them in src/transport/ and src/storage/.',
  },
  storageTransport: {
    regex: '(^|/)transport/',
    message: 'src/storage/ must not import src/transport/: dependencies point transport → domain ← storage.',
  },
};

export default tseslint.config(
  { ignores: ['gen/**', 'dist/**', 'var/**', 'node_modules/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The layers of docs/architecture.md: transport → domain ← storage, and only the protocol edge knows gen/.
  // A later block replaces an earlier one's no-restricted-imports for the files it names, so each repeats gen.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/transport/**', 'src/client/**', 'src/cli/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [LAYER_RULES.gen] }] },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            LAYER_RULES.gen,
            LAYER_RULES.domainTransport,
            LAYER_RULES.domainStorage,
            LAYER_RULES.domainLibraries,
          ],
        },
      ],
    },
  },
  {
    files: ['src/storage/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [LAYER_RULES.gen, LAYER_RULES.storageTransport] }] },
  },
  {
    // no-restricted-imports does not see import(): the layers below must have no dynamic imports at all.
    files: ['src/domain/**/*.ts', 'src/storage/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportExpression',
          message: 'no dynamic import() in src/domain/ or src/storage/: the layer rule checks static imports only',
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
