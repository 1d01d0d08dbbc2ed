import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { SluiceError } from '../errors/index.js';
import { configError, formatPath } from './issues.js';
import type { ConfigIssue } from './issues.js';
import { redactUrl } from './redact.js';
import { checkConfig } from './schema.js';
import type { SluiceConfig } from './schema.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface LoadConfigOptions {
  /** The file named by `--config`; else `env.SLUICE_CONFIG`; else config/sluice.yaml. */
  readonly path?: string | undefined;
  readonly env?: Env | undefined;
}

export const DEFAULT_CONFIG_PATH = 'config/sluice.yaml';

/** Environment variables that replace a field after interpolation (contract). */
const OVERRIDES: readonly { readonly variable: string; readonly path: readonly string[] }[] = [
  { variable: 'SLUICE_SOURCE_URL', path: ['source', 'url'] },
  { variable: 'SLUICE_REDIS_URL', path: ['redis', 'url'] },
];

/** Which file loadConfig reads (relative paths are relative to the working directory). */
export function resolveConfigPath(options: LoadConfigOptions = {}): string {
  const env = options.env ?? process.env;
  if (options.path !== undefined && options.path !== '') return options.path;
  const fromEnv = env['SLUICE_CONFIG'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_CONFIG_PATH;
}

/**
 * Reads, interpolates, overrides and validates the configuration. The only
 * place that sees raw YAML. Throws E_CONFIG_NOT_FOUND, E_CONFIG_PARSE,
 * E_CONFIG_ENV or E_CONFIG_INVALID (all exit code 2); each message names the
 * file and, per problem, the field path.
 */
export function loadConfig(options: LoadConfigOptions = {}): SluiceConfig {
  const env = options.env ?? process.env;
  const file = resolveConfigPath(options);
  const document = parseDocument(readConfigFile(file), file);
  if (document === null || document === undefined) {
    throw configError('E_CONFIG_INVALID', [{ path: '(root)', message: 'the file is empty' }], file);
  }

  const overridden = new Map<string, string>(); // field path → variable
  const skip = new Set<string>();
  for (const o of OVERRIDES) {
    const value = env[o.variable];
    if (value !== undefined && value !== '' && isRecord(document)) skip.add(formatPath(o.path));
  }
  const problems: ConfigIssue[] = [];
  const interpolated = interpolateEnv(document, env, problems, skip);
  if (problems.length > 0) throw configError('E_CONFIG_ENV', problems, file);

  for (const o of OVERRIDES) {
    const value = env[o.variable];
    if (value === undefined || value === '' || !isRecord(interpolated)) continue;
    setPath(interpolated, o.path, value);
    overridden.set(formatPath(o.path), o.variable);
  }

  const result = checkConfig(interpolated);
  if (result.ok) return result.config;
  const issues = result.issues.map((issue) => {
    const variable = overridden.get(issue.path);
    return variable === undefined
      ? issue
      : { path: issue.path, message: `${issue.message} (set by ${variable})` };
  });
  throw configError('E_CONFIG_INVALID', issues, file);
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const why =
      code === 'ENOENT'
        ? `config file ${file} not found (choose one with --config FILE or SLUICE_CONFIG)`
        : `cannot read config file ${file} (${code})`;
    throw new SluiceError('E_CONFIG_NOT_FOUND', why, {
      cause: err,
      details: { file, resolved: resolve(file), errno: code },
    });
  }
}

function parseDocument(text: string, file: string): unknown {
  try {
    // prettyErrors off: the pretty form quotes the offending source line,
    // which may hold a password; we print the location instead.
    return parseYaml(text, { prettyErrors: false, logLevel: 'error' });
  } catch (err) {
    if (!(err instanceof YAMLParseError)) {
      throw new SluiceError('E_CONFIG_PARSE', `${file}: not valid YAML`, {
        cause: err,
        details: { file },
      });
    }
    const at = err.linePos?.[0] ?? linePos(text, err.pos[0]);
    const where = at === undefined ? file : `${file}:${at.line}:${at.col}`;
    const location = at === undefined ? '' : ` at line ${at.line}, column ${at.col}`;
    const why =
      err.code === 'MULTIPLE_DOCS' ? 'the file holds several YAML documents; use one' : err.message;
    throw new SluiceError('E_CONFIG_PARSE', `${where}: YAML syntax error${location}: ${why}`, {
      details: { file, line: at?.line, column: at?.col, yamlCode: err.code },
    });
  }
}

/** 1-based line and column of a character offset (prettyErrors off leaves linePos unset). */
function linePos(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, offset));
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, col: before.length - lineStart + 1 };
}

const VAR_RE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string scalar of a parsed
 * document (never in the raw text, so a value cannot change the YAML
 * structure); `$${` is a literal `${`. As in the shell, `:-` also applies
 * when VAR is set but empty. Problems (unset variable without a default,
 * malformed reference) are appended to `problems` with their field path;
 * fields whose path is in `skip` are left as they are.
 */
export function interpolateEnv(
  value: unknown,
  env: Env,
  problems: ConfigIssue[],
  skip: ReadonlySet<string> = new Set(),
  path: readonly (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    return skip.has(formatPath(path)) ? value : interpolateString(value, env, path, problems);
  }
  if (Array.isArray(value)) {
    return value.map((v: unknown, i) => interpolateEnv(v, env, problems, skip, [...path, i]));
  }
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = interpolateEnv(v, env, problems, skip, [...path, k]);
    }
    return out;
  }
  return value;
}

function interpolateString(
  text: string,
  env: Env,
  path: readonly (string | number)[],
  problems: ConfigIssue[],
): string {
  const problem = (message: string): void => {
    problems.push({ path: formatPath(path), message });
  };
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) {
      problem('unterminated "${" (write "$${" for a literal "${")');
      return text;
    }
    const body = text.slice(dollar + 2, close);
    const m = VAR_RE.exec(body);
    const name = m?.[1];
    if (name === undefined) {
      problem(`malformed reference "\${${redactUrl(body)}}": expected \${VAR} or \${VAR:-default}`);
    } else {
      const fallback = m?.[2];
      const set = env[name];
      if (set !== undefined && (set !== '' || fallback === undefined)) out += set;
      else if (fallback !== undefined) out += fallback;
      else problem(`environment variable ${name} is not set and \${${name}} has no default`);
    }
    i = close + 1;
  }
  return out;
}

function setPath(root: Record<string, unknown>, path: readonly string[], value: string): void {
  let node = root;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (isRecord(next)) {
      node = next;
    } else if (next === undefined || next === null) {
      const created: Record<string, unknown> = {};
      node[key] = created;
      node = created;
    } else {
      return; // mistyped section: validation reports it
    }
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
