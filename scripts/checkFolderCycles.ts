// No cycles between the folders of src/ (DESIGN.md, "Layout and layering"):
// the second half of `npm run lint:deps`, after `depcruise src`.
//
// dependency-cruiser's own folder rule (`no-folder-cycles`, scope: folder)
// builds its folder graph with each import pointing at the imported file's
// own folder, so a cycle that enters pipeline/ through one sub-folder and
// leaves through another (db → pipeline/change, pipeline/source → db) never
// closes there; and `--collapse` only reshapes a report, it validates
// nothing. This cruises with the same configuration, collapses the graph to
// `src/<folder>` and reports every strongly connected component with the
// file-level imports that form it.
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const ROOT = 'src';
const TOP_FOLDER = /^src\/[^/]+/;

interface FolderImport {
  readonly from: string;
  readonly to: string;
}

const folderOf = (file: string): string => TOP_FOLDER.exec(file)?.[0] ?? file;

/** Imports between two different top-level folders of src/, file by file, once each. */
function crossFolderImports(result: ICruiseResult): FolderImport[] {
  const imports = new Map<string, FolderImport>();
  for (const module of result.modules) {
    if (!module.source.startsWith(`${ROOT}/`)) continue;
    for (const dependency of module.dependencies) {
      const to = dependency.resolved;
      if (!to.startsWith(`${ROOT}/`) || folderOf(to) === folderOf(module.source)) continue;
      imports.set(`${module.source} → ${to}`, { from: module.source, to });
    }
  }
  return [...imports.values()];
}

/** Tarjan's strongly connected components; only those of two or more nodes. */
function cycles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node) ?? 0);
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(next) ?? 0));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(next) ?? 0));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member === undefined) break;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) found.push(component.sort());
  };
  for (const node of [...edges.keys()].sort()) if (!index.has(node)) visit(node);
  return found;
}

const options = await extractDepcruiseOptions('./.dependency-cruiser.mjs');
const { output } = await cruise(
  [ROOT],
  // The rules ran in `depcruise src`; only the graph is needed here.
  { ...options, validate: false, outputType: 'json' },
  {},
  { tsConfig: extractTSConfig(options.tsConfig?.fileName ?? 'tsconfig.json') },
);
const result = (typeof output === 'string' ? JSON.parse(output) : output) as ICruiseResult;

const imports = crossFolderImports(result);
const edges = new Map<string, Set<string>>();
for (const { from, to } of imports) {
  const targets = edges.get(folderOf(from)) ?? new Set<string>();
  targets.add(folderOf(to));
  edges.set(folderOf(from), targets);
}

const components = cycles(edges);
for (const folders of components) {
  const inside = new Set(folders);
  console.log(`\n  error folder-cycle: ${folders.join(' ⇄ ')}`);
  for (const { from, to } of imports) {
    if (inside.has(folderOf(from)) && inside.has(folderOf(to)))
      console.log(`      ${from} → ${to}`);
  }
}
if (components.length > 0) {
  console.log(`\nx ${components.length} cycle(s) between the folders of ${ROOT}/.\n`);
  process.exitCode = 1;
} else {
  console.log(
    `\n✔ no cycles between the folders of ${ROOT}/ (${edges.size} folders importing, ` +
      `${imports.length} imports across folders).\n`,
  );
}
