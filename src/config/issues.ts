import { SluiceError } from '../errors/index.js';
import type { ErrorCode } from '../errors/index.js';

/** One configuration problem, located by its field path (`rules[1].keys[0]`). */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

const PLAIN_KEY_RE = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/**
 * `['rules', 1, 'keys', 0]` → `rules[1].keys[0]`; a key that is not a plain
 * identifier is quoted: `api.resources["Bad name"]`. The root is `(root)`.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && PLAIN_KEY_RE.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out === '' ? '(root)' : out;
}

/** `path: message`, the form every configuration error line takes. */
export function issueLine(issue: ConfigIssue): string {
  return `${issue.path}: ${issue.message}`;
}

/**
 * One SluiceError for a list of issues: a header line, then one issue per
 * line; `details.issues` carries them structured. Issue messages never hold
 * secrets (URLs are redacted where they are produced).
 */
export function configError(
  code: Extract<ErrorCode, 'E_CONFIG_INVALID' | 'E_CONFIG_ENV'>,
  issues: readonly ConfigIssue[],
  file?: string,
  summary = code === 'E_CONFIG_ENV' ? 'has unresolved environment references' : 'is invalid',
): SluiceError {
  const where = file === undefined ? 'configuration' : `configuration ${file}`;
  const count = `${issues.length} ${issues.length === 1 ? 'problem' : 'problems'}`;
  const frozen = Object.freeze(
    issues.map((i) => Object.freeze({ path: i.path, message: i.message })),
  );
  return new SluiceError(
    code,
    [`${where} ${summary} (${count}):`, ...issues.map(issueLine)].join('\n'),
    { details: file === undefined ? { issues: frozen } : { issues: frozen, file } },
  );
}
