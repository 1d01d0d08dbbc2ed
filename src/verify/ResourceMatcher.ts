import type { KeyTemplate } from '../keys/KeyTemplate.js';

/** An API resource the monitor checks: its single-placeholder key and its table. */
export interface VerifyResource {
  readonly name: string;
  /** `db.table` */
  readonly table: string;
  readonly key: KeyTemplate;
}

/**
 * Which API resource an invalidated key is the row key of. `user:{id}` also
 * matches `user:email:a@b`, so a key fitting a more specific template (more
 * literal characters) of any rule belongs to that one instead (the rule
 * `sluice audit` applies too).
 */
export class ResourceMatcher {
  private readonly rivals: readonly KeyTemplate[];

  constructor(
    private readonly resources: readonly VerifyResource[],
    otherTemplates: readonly KeyTemplate[],
  ) {
    this.rivals = otherTemplates;
  }

  /** The resource and row id of `key`, or null when it is not a resource's row key. */
  match(key: string): { resource: VerifyResource; id: string } | null {
    for (const resource of this.resources) {
      const values = resource.key.match(key);
      if (values === null) continue;
      const own = specificity(resource.key);
      const better = this.rivals.some(
        (t) => t.source !== resource.key.source && specificity(t) > own && t.match(key) !== null,
      );
      if (better) continue;
      const id = values[resource.key.columns[0] as string];
      if (id !== undefined) return { resource, id };
    }
    return null;
  }
}

/** Literal characters of a template: more means more specific. */
function specificity(t: KeyTemplate): number {
  return t.source.replace(/\{\{|\}\}/g, '.').replace(/\{[^}]*\}/g, '').length;
}
