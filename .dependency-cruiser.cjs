/**
 * The "may import" column of ARCHITECTURE.md's layer table, enforced. Every folder of src/ has a
 * rule here (test/unit/layers.test.ts checks that none is missing and that src/ has no loose file
 * but the cli.ts entry point).
 */
const layer = (name, allowed) => ({
  name: `${name}-imports-only-${allowed.join('-') || 'itself'}`,
  comment: `src/${name} may import only ${allowed.length ? allowed.map((a) => `src/${a}`).join(', ') : 'itself'} (ARCHITECTURE.md)`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: {
    path: '^src/',
    pathNot: [`^src/${name}/`, ...allowed.map((a) => `^src/${a}/`)],
  },
});

module.exports = {
  forbidden: [
    layer('raft', []),
    {
      name: 'raft-imports-no-packages',
      comment: 'src/raft is pure: no Node built-ins and no packages',
      severity: 'error',
      from: { path: '^src/raft/' },
      to: {
        dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
      },
    },
    layer('storage', ['raft']),
    layer('transport', ['raft']),
    layer('kv', []),
    layer('shard', []),
    layer('config', ['raft']),
    layer('protocol', []),
    layer('membership', ['raft']),
    layer('node', ['raft', 'storage', 'transport', 'kv', 'shard', 'config', 'membership']),
    layer('backup', []),
    layer('api', ['node', 'shard', 'protocol', 'backup']),
    layer('client', ['shard', 'protocol']),
    layer('bench', ['client']),
    layer('server', [
      'raft',
      'storage',
      'transport',
      'kv',
      'shard',
      'config',
      'node',
      'api',
      'membership',
      'backup',
    ]),
    layer('cli', [
      'raft',
      'storage',
      'transport',
      'kv',
      'shard',
      'config',
      'node',
      'api',
      'client',
      'bench',
      'server',
      'membership',
      'protocol',
      'backup',
    ]),
    {
      name: 'entry-point-imports-only-cli',
      comment: 'src/cli.ts, the executable, only starts the command line of src/cli (ARCHITECTURE.md)',
      severity: 'error',
      from: { path: '^src/[^/]+$' },
      to: { path: '^src/', pathNot: ['^src/cli/'] },
    },
    // Outside src/: test/ and scripts/ never import each other; what both need is in harness/ (harness/index.ts).
    {
      name: 'scripts-not-to-test',
      comment:
        'scripts/ never import test/: shared process code lives in harness/, suite runners under test/',
      severity: 'error',
      from: { path: '^scripts/' },
      to: { path: '^test/' },
    },
    {
      name: 'test-not-to-scripts',
      comment: 'test/ never imports scripts/: shared process code lives in harness/',
      severity: 'error',
      from: { path: '^test/' },
      to: { path: '^scripts/' },
    },
    {
      name: 'harness-not-to-test-or-scripts',
      comment: 'harness/ serves both test/ and scripts/: it imports neither, nor a test framework',
      severity: 'error',
      from: { path: '^harness/' },
      to: { path: ['^test/', '^scripts/', '^node_modules/vitest/'] },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles at run time (a cycle through type-only imports is fine)',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    { name: 'not-to-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
