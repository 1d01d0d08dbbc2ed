// The layering of DESIGN.md ("Layout and layering"), checked by
// dependency-cruiser in `npm run lint` (`depcruise src`, then
// scripts/checkFolderCycles.ts for cycles between the top-level folders).
//
// Pinned to dependency-cruiser 17: version 18 needs Node 22 or later, and the
// project supports and runs on Node 20 (package.json "engines").
//
// Type-only imports count (tsPreCompilationDeps): a layer that needs another
// layer's types depends on it as much as one that calls it.

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    // Leaves and the floor.
    {
      name: 'errors-is-a-leaf',
      comment: 'errors/ (SluiceError and the code catalog) imports nothing of Sluice.',
      severity: 'error',
      from: { path: '^src/errors/' },
      to: { path: '^src/', pathNot: '^src/errors/' },
    },
    {
      name: 'keys-imports-only-errors',
      comment:
        'keys/ builds every key string for the daemon and the cache alike, so it sits ' +
        'below both: it imports errors/ and nothing else. The value types it renders ' +
        '(Row, ColumnValue) live in keys/values.ts.',
      severity: 'error',
      from: { path: '^src/keys/' },
      to: { path: '^src/', pathNot: '^src/(keys|errors)/' },
    },
    {
      name: 'infra-imports-only-leaves',
      comment:
        'infra/ (logger, clock, backoff, Redis and MySQL connection options) is below ' +
        'everything: it imports only the leaves keys/ and errors/.',
      severity: 'error',
      from: { path: '^src/infra/' },
      to: { path: '^src/', pathNot: '^src/(infra|keys|errors)/' },
    },

    // The daemon, the bus and the read side.
    {
      name: 'db-not-above',
      comment:
        'db/ (pool, row loaders, schema lookup) serves the daemon, the cache and the ' +
        'read API; it imports none of them, nor the composition in cli/.',
      severity: 'error',
      from: { path: '^src/db/' },
      to: { path: '^src/(pipeline|cache|http|jobs|cli)/' },
    },
    {
      name: 'pipeline-and-cache-apart',
      comment:
        'The daemon (pipeline/) and the cache module (cache/) never import each other; ' +
        'what they share is the bus (bus/) and the key module (keys/).',
      severity: 'error',
      from: { path: '^src/(pipeline|cache)/' },
      to: { path: '^src/(pipeline|cache)/', pathNot: '^src/$1/' },
    },
    {
      name: 'bus-below-pipeline-and-cache',
      comment:
        'bus/ (wire codec, publisher, subscriber) is imported by the daemon, the cache ' +
        'and the jobs; it imports none of them.',
      severity: 'error',
      from: { path: '^src/bus/' },
      to: { path: '^src/(pipeline|cache|jobs|http)/' },
    },
    {
      name: 'cache-below-http-and-jobs',
      comment: 'http/ and jobs/ sit on cache/, not the other way round.',
      severity: 'error',
      from: { path: '^src/cache/' },
      to: { path: '^src/(http|jobs)/' },
    },
    {
      name: 'http-and-jobs-not-pipeline',
      comment:
        'The read API and the background jobs sit on the cache and the bus, never on ' +
        'the daemon (pipeline/).',
      severity: 'error',
      from: { path: '^src/(http|jobs)/' },
      to: { path: '^src/pipeline/' },
    },
    {
      name: 'verify-watches-from-outside',
      comment:
        'verify/ (the consistency monitor) checks the daemon and the cache from the ' +
        'outside, as a reader would: the bus codec, the L2 entry codec, db/ loaders and ' +
        'binlog positions, never the daemon stages, the cache internals, http/ or jobs/.',
      severity: 'error',
      from: { path: '^src/verify/' },
      to: {
        path: '^src/(pipeline|cache|http|jobs)/',
        pathNot: '^src/(pipeline/position|cache/codec)\\.ts$',
      },
    },
    {
      name: 'only-cli-composes',
      comment:
        'cli/ is the composition of everything (one file per command); only cli/ itself ' +
        'and the package entry src/index.ts may import it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli/|index\\.ts$)' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'package-entry-not-imported',
      comment: 'src/index.ts is the library surface for users; Sluice itself never imports it.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/index\\.ts$' },
    },

    // Cycles. File-level, and folder-level at every depth (scope: folder).
    // dependency-cruiser's folder graph points each import at the imported
    // file's own folder, so a cycle that enters pipeline/ through one
    // sub-folder and leaves through another is invisible to the folder rule:
    // scripts/checkFolderCycles.ts checks the graph collapsed to src/<folder>.
    {
      name: 'no-circular',
      comment: 'No import cycle between files.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      comment: 'No import cycle between folders (DESIGN.md: "not only files").',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src' },
      to: { circular: true },
    },

    // Hygiene.
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve to a file or a package.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      // A warning, not an error: a module may land ahead of its first user
      // (infra/clock, backoff and timeout did, for the stage rewrite).
      name: 'no-orphans',
      comment: 'A source file nothing imports and that imports nothing: dead, or forgotten.',
      severity: 'warn',
      from: { orphan: true, path: '^src/', pathNot: '\\.d\\.ts$' },
      to: {},
    },
    {
      name: 'not-to-dev-dep',
      comment:
        'Published code (src/) must not need a devDependency at run time; type-only ' +
        'imports are erased and allowed.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-non-package-json',
      comment: 'A package imported by src/ but not declared in package.json.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
