import { readFileSync } from 'node:fs';

const README = new URL('../../README.md', import.meta.url);
const SECTION = '## Embedding the cache in your service';

/**
 * The TypeScript block of the README's embedding section, character for
 * character: what a user copies into their project.
 */
export function readmeEmbeddingExample(): string {
  const readme = readFileSync(README, 'utf8');
  const section = readme.split(`\n${SECTION}\n`)[1]?.split('\n## ')[0] ?? '';
  const block = /^```ts\n([\s\S]*?)^```$/m.exec(section)?.[1];
  if (block === undefined) throw new Error(`README.md: no \`\`\`ts block under "${SECTION}"`);
  return block;
}
