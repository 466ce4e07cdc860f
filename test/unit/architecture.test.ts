/**
 * Dependency rules of the hexagon: the domain and config are pure, ports are types, use cases
 * (lib/app) know ports only, adapters and drivers stay apart, and only functions/ and cdk/ read
 * the process environment. Each failure lists the offending files and imports.
 */
import { type Dirent, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCANNED = ['lib', 'functions', 'cdk'];

interface Import {
  /** The specifier as written. */
  readonly specifier: string;
  /** Repository-relative path of a relative import, or the package name. */
  readonly target: string;
  readonly kind: 'local' | 'builtin' | 'package';
  /** `import type` / `export type`: erased at runtime. */
  readonly typeOnly: boolean;
}

interface SourceFile {
  /** Repository-relative, with `/`. */
  readonly path: string;
  readonly code: string;
  readonly imports: readonly Import[];
}

const BUILTINS = new Set(builtinModules);

/** Removes block and line comments (good enough for our sources: no `//` inside import strings). */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

function classify(fromPath: string, specifier: string): Pick<Import, 'target' | 'kind'> {
  if (specifier.startsWith('.')) {
    return {
      kind: 'local',
      target: posix.normalize(posix.join(posix.dirname(fromPath), specifier)),
    };
  }
  if (specifier.startsWith('node:') || BUILTINS.has(specifier.split('/')[0]!)) {
    return { kind: 'builtin', target: specifier };
  }
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return { kind: 'package', target: name };
}

/** The import specifiers of a module: static imports/exports, side-effect imports, import(). */
function parseImports(path: string, text: string): Import[] {
  const code = stripComments(text);
  const found: Import[] = [];
  const add = (specifier: string, typeOnly: boolean) =>
    found.push({ specifier, typeOnly, ...classify(path, specifier) });
  const statement = /\b(import|export)\s+(type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g;
  for (const m of code.matchAll(statement)) add(m[3]!, m[2] !== undefined);
  for (const m of code.matchAll(/(?:^|[;\s])import\s*['"]([^'"]+)['"]/g)) add(m[1]!, false);
  for (const m of code.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) add(m[1]!, false);
  return found;
}

function walk(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const full = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'cdk.out' ? [] : walk(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

function load(): SourceFile[] {
  return SCANNED.flatMap((top) => walk(join(ROOT, top))).map((full) => {
    const path = relative(ROOT, full).split(sep).join('/');
    const text = readFileSync(full, 'utf8');
    return { path, code: stripComments(text), imports: parseImports(path, text) };
  });
}

const FILES = load();

const under = (path: string, folder: string) => path.startsWith(`${folder}/`);
const AWS_PACKAGE =
  /^(@aws-sdk\/|aws-sdk$|@smithy\/|@aws-lambda-powertools\/|aws-cdk-lib$|aws-lambda$)/;

/** A rule: which files it governs, and why an import of one of them is refused (or undefined). */
interface Rule {
  readonly name: string;
  readonly applies: (path: string) => boolean;
  readonly refuse: (imp: Import, path: string) => string | undefined;
}

/** The kind of an adapter or driver: `lib/adapters/memory`, or the file itself at the top. */
function kindOf(path: string): string | undefined {
  const m = /^lib\/(adapters|drivers)\/([^/]+)(\/|$)/.exec(path);
  if (!m) return undefined;
  return m[3] === '/' ? `lib/${m[1]}/${m[2]}` : path;
}

const RULES: Rule[] = [
  {
    name: 'lib/domain imports only lib/domain, lib/config and npm packages (no builtins, no AWS)',
    applies: (p) => under(p, 'lib/domain'),
    refuse: (imp) => {
      if (imp.kind === 'builtin') return 'a Node builtin';
      if (imp.kind === 'package')
        return AWS_PACKAGE.test(imp.target) ? 'an AWS package' : undefined;
      return under(imp.target, 'lib/domain') || under(imp.target, 'lib/config')
        ? undefined
        : 'outside lib/domain and lib/config';
    },
  },
  {
    name: 'lib/config imports only lib/domain, lib/config and zod',
    applies: (p) => under(p, 'lib/config'),
    refuse: (imp) => {
      if (imp.kind === 'builtin') return 'a Node builtin';
      if (imp.kind === 'package')
        return imp.target === 'zod' ? undefined : 'a package other than zod';
      return under(imp.target, 'lib/domain') || under(imp.target, 'lib/config')
        ? undefined
        : 'outside lib/domain and lib/config';
    },
  },
  {
    name: 'lib/ports imports only types, from lib/domain, lib/config and lib/ports',
    applies: (p) => under(p, 'lib/ports'),
    refuse: (imp) => {
      if (imp.kind !== 'local') return `a ${imp.kind}`;
      if (!['lib/domain', 'lib/config', 'lib/ports'].some((f) => under(imp.target, f))) {
        return 'outside lib/domain, lib/config and lib/ports';
      }
      return imp.typeOnly ? undefined : 'not a type-only import';
    },
  },
  {
    name: 'lib/app never imports adapters, drivers or AWS packages',
    applies: (p) => under(p, 'lib/app'),
    refuse: (imp) => {
      if (imp.kind === 'package' && AWS_PACKAGE.test(imp.target)) return 'an AWS package';
      if (imp.kind !== 'local') return undefined;
      if (under(imp.target, 'lib/adapters')) return 'an adapter';
      if (under(imp.target, 'lib/drivers')) return 'a driver';
      return undefined;
    },
  },
  {
    name: 'lib/adapters and lib/drivers never import each other, another kind, or lib/app',
    applies: (p) => under(p, 'lib/adapters') || under(p, 'lib/drivers'),
    refuse: (imp, path) => {
      if (imp.kind !== 'local') return undefined;
      if (under(imp.target, 'lib/app')) return 'a use case (lib/app)';
      const own = kindOf(path);
      const theirs = kindOf(imp.target);
      if (theirs === undefined || theirs === own) return undefined;
      return `another adapter or driver (${theirs})`;
    },
  },
  {
    name: 'lib/api never imports adapters or drivers, and only its client imports AWS packages',
    applies: (p) => under(p, 'lib/api'),
    refuse: (imp, path) => {
      if (imp.kind === 'package' && AWS_PACKAGE.test(imp.target) && path !== 'lib/api/client.ts') {
        return 'an AWS package outside the client';
      }
      if (imp.kind !== 'local') return undefined;
      if (under(imp.target, 'lib/adapters')) return 'an adapter';
      if (under(imp.target, 'lib/drivers')) return 'a driver';
      return undefined;
    },
  },
  {
    name: 'lib never imports functions/, cdk/ or test/',
    applies: (p) => under(p, 'lib'),
    refuse: (imp) =>
      imp.kind === 'local' && ['functions', 'cdk', 'test'].some((f) => under(imp.target, f))
        ? 'an entry point or a test'
        : undefined,
  },
];

/** Every refused import of `files` under `rule`, one line each. */
function violations(rule: Rule, files: readonly SourceFile[]): string[] {
  return files
    .filter((f) => rule.applies(f.path))
    .flatMap((f) =>
      f.imports.flatMap((imp) => {
        const why = rule.refuse(imp, f.path);
        return why ? [`${f.path} imports '${imp.specifier}': ${why}`] : [];
      }),
    );
}

const ENV_READ = [
  /\bprocess\s*\.\s*env\b/,
  /\bprocess\s*\[\s*['"`]env['"`]\s*\]/,
  /\bimport\s*\{[^}]*\benv\b[^}]*\}\s*from\s*['"](node:)?process['"]/,
  /\{[^}]*\benv\b[^}]*\}\s*=\s*process\b/,
  /\bglobalThis\s*\.\s*process\b/,
];

function envReaders(files: readonly SourceFile[]): string[] {
  return files
    .filter((f) => !under(f.path, 'functions') && !under(f.path, 'cdk'))
    .flatMap((f) =>
      f.code
        .split('\n')
        .map((text, i) => ({ text, line: i + 1 }))
        .filter(({ text }) => ENV_READ.some((re) => re.test(text)))
        .map(({ text, line }) => `${f.path}:${line}: ${text.trim()}`),
    );
}

function fake(path: string, text: string): SourceFile {
  return { path, code: stripComments(text), imports: parseImports(path, text) };
}

describe('the import parser', () => {
  it('finds static, multi-line, type-only, re-export, side-effect and dynamic imports', () => {
    // Prepare
    const text = [
      "import { a } from './a.ts';",
      'import {',
      '  b,',
      "} from '../domain/b.ts';",
      "import type { C } from 'zod';",
      "export type { D } from '../domain/d.ts';",
      "export * from './e.ts';",
      "import 'node:fs';",
      "const f = await import('@aws-sdk/client-sqs');",
      "/* import { x } from './commented.ts'; */",
      "// import { y } from './commented-too.ts';",
    ].join('\n');

    // Act
    const imports = parseImports('lib/app/x.ts', text);

    // Assess
    expect(imports).toStrictEqual([
      { specifier: './a.ts', target: 'lib/app/a.ts', kind: 'local', typeOnly: false },
      { specifier: '../domain/b.ts', target: 'lib/domain/b.ts', kind: 'local', typeOnly: false },
      { specifier: 'zod', target: 'zod', kind: 'package', typeOnly: true },
      { specifier: '../domain/d.ts', target: 'lib/domain/d.ts', kind: 'local', typeOnly: true },
      { specifier: './e.ts', target: 'lib/app/e.ts', kind: 'local', typeOnly: false },
      { specifier: 'node:fs', target: 'node:fs', kind: 'builtin', typeOnly: false },
      {
        specifier: '@aws-sdk/client-sqs',
        target: '@aws-sdk/client-sqs',
        kind: 'package',
        typeOnly: false,
      },
    ]);
  });

  it('reads the real tree: every scanned folder that exists, and the imports in it', () => {
    // Assess: the scan is not vacuous
    const paths = FILES.map((f) => f.path);
    expect(paths).toContain('lib/domain/amphora.ts');
    expect(paths).toContain('lib/drivers/noop/noop-driver.ts');
    const noop = FILES.find((f) => f.path === 'lib/drivers/noop/noop-driver.ts')!;
    expect(noop.imports.map((i) => i.target)).toContain('lib/ports/amphora-driver.ts');
    expect(noop.imports.map((i) => i.target)).toContain('lib/domain/errors.ts');
  });
});

describe('the rules catch what they forbid', () => {
  it.each<[string, string, string]>([
    ['lib/domain/x.ts', "import { readFileSync } from 'node:fs';", 'a Node builtin'],
    ['lib/domain/x.ts', "import { createHash } from 'crypto';", 'a Node builtin'],
    ['lib/domain/x.ts', "import { SQS } from '@aws-sdk/client-sqs';", 'an AWS package'],
    ['lib/domain/x.ts', "import type { PoolStore } from '../ports/pool-store.ts';", 'outside'],
    ['lib/config/x.ts', "import YAML from 'yaml';", 'a package other than zod'],
    ['lib/config/x.ts', "import { plan } from '../app/plan.ts';", 'outside'],
    [
      'lib/ports/x.ts',
      "import { encodeTask } from '../domain/tasks.ts';",
      'not a type-only import',
    ],
    ['lib/ports/x.ts', "import type { X } from '../app/x.ts';", 'outside'],
    [
      'lib/app/x.ts',
      "import { MemoryPoolStore } from '../adapters/memory/memory-pool-store.ts';",
      'an adapter',
    ],
    ['lib/app/x.ts', "import { NoopDriver } from '../drivers/noop/noop-driver.ts';", 'a driver'],
    [
      'lib/app/x.ts',
      "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';",
      'an AWS package',
    ],
    [
      'lib/adapters/memory/x.ts',
      "import { NoopDriver } from '../../drivers/noop/noop-driver.ts';",
      'lib/drivers/noop',
    ],
    ['lib/adapters/memory/x.ts', "import { y } from '../dynamodb/y.ts';", 'lib/adapters/dynamodb'],
    [
      'lib/adapters/memory/x.ts',
      "import { SystemClock } from '../system-clock.ts';",
      'lib/adapters/system-clock.ts',
    ],
    [
      'lib/drivers/openstack/x.ts',
      "import { ManualClock } from '../../adapters/memory/manual-clock.ts';",
      'lib/adapters/memory',
    ],
    ['lib/drivers/noop/x.ts', "import { run } from '../../app/run-planner-cycle.ts';", 'lib/app'],
    ['lib/domain/x.ts', "import { handler } from '../../functions/planner.ts';", 'an entry point'],
    [
      'lib/api/handler.ts',
      "import { MemoryPoolStore } from '../adapters/memory/memory-pool-store.ts';",
      'an adapter',
    ],
    ['lib/api/handler.ts', "import { SignatureV4 } from '@smithy/signature-v4';", 'an AWS package'],
  ])('%s: %s', (path, line, reason) => {
    // Act
    const found = RULES.flatMap((rule) => violations(rule, [fake(path, line)]));

    // Assess
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toContain(reason);
    expect(found[0]).toContain(path);
  });

  it.each<[string, string]>([
    ['lib/domain/x.ts', "import * as z from 'zod';"],
    ['lib/domain/x.ts', "import type { HousekeeperConfig } from '../config/schema.ts';"],
    ['lib/config/x.ts', "import { ANY_ZONE } from '../domain/amphora.ts';"],
    ['lib/ports/x.ts', "import type { Task } from '../domain/tasks.ts';"],
    ['lib/app/x.ts', "import type { PoolStore } from '../ports/pool-store.ts';"],
    ['lib/adapters/memory/x.ts', "import { y } from './y.ts';"],
    ['lib/adapters/dynamodb/x.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';"],
    ['lib/drivers/openstack/x.ts', "import * as https from 'node:https';"],
    ['lib/drivers/openstack/x.ts', "import { NotFoundError } from '../../domain/errors.ts';"],
    ['lib/api/client.ts', "import { SignatureV4 } from '@smithy/signature-v4';"],
    ['lib/api/handler.ts', "import { claimSpare } from '../app/operator-actions.ts';"],
  ])('allows %s: %s', (path, line) => {
    expect(RULES.flatMap((rule) => violations(rule, [fake(path, line)]))).toStrictEqual([]);
  });

  it.each([
    ['const table = process.env.TABLE;', 1],
    ["const table = process.env['TABLE'];", 1],
    ["const t = process['env'];", 1],
    ['const { env } = process;', 1],
    ["import { env } from 'node:process';", 1],
    ['/** only functions/ touch `process.env` */', 0],
    ['// process.env is read in functions/', 0],
  ])('spots a read of the environment in %j', (line, count) => {
    expect(envReaders([fake('lib/app/x.ts', line)])).toHaveLength(count);
  });

  it('lets functions/ and cdk/ read the environment', () => {
    const files = [
      fake('functions/planner.ts', 'process.env.X'),
      fake('cdk/app.ts', 'process.env.Y'),
    ];
    expect(envReaders(files)).toStrictEqual([]);
  });
});

describe('the source tree obeys the dependency rules', () => {
  it.each(RULES.map((rule) => [rule.name, rule] as const))('%s', (_, rule) => {
    // Act
    const found = violations(rule, FILES);

    // Assess
    expect(found, `\n${found.join('\n')}\n`).toStrictEqual([]);
  });

  it('no file outside functions/ and cdk/ reads process.env', () => {
    // Act
    const found = envReaders(FILES);

    // Assess
    expect(found, `\n${found.join('\n')}\n`).toStrictEqual([]);
  });
});
