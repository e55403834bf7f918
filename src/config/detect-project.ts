// What `slipway init` guesses from the files of a service directory: how to start
// one instance of a Node project (package.json), a Python one (requirements.txt,
// pyproject.toml) or a static site (index.html), and which path answers a health
// probe. A guess is written with comments saying what it came from and what to
// check; slipway never runs anything of the project to find out.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitShellWords } from './shell-words.ts';

export type ProjectKind = 'node' | 'python' | 'static' | 'unknown';

export interface ProjectGuess {
  kind: ProjectKind;
  command: string;
  /** Comment lines for above `command:`. */
  commandNotes: string[];
  healthPath: string;
  healthNotes: string[];
  /** One line for the person running init. */
  summary: string;
}

const read = (dir: string, name: string): string | null => {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch {
    return null;
  }
};

// Without a /healthz of its own, a new service would fail every deploy: probe its
// home page instead, and say how to do better.
function healthGuess(dir: string, sources: string[]): { healthPath: string; healthNotes: string[] } {
  if (sources.some((f) => read(dir, f)?.includes('/healthz'))) return { healthPath: '/healthz', healthNotes: [] };
  return {
    healthPath: '/',
    healthNotes: ['No /healthz was found in the code, so the home page is probed: it must answer', '2xx. Better: add a cheap /healthz that says whether the service can serve.'],
  };
}

export function detectProject(dir: string, o: { hasProgram(name: string): boolean; nodeVersion: string }): ProjectGuess {
  if (existsSync(join(dir, 'package.json'))) return detectNode(dir, o.nodeVersion);
  if (['requirements.txt', 'pyproject.toml', 'setup.py', 'manage.py'].some((f) => existsSync(join(dir, f)))) return detectPython(dir);
  if (existsSync(join(dir, 'index.html'))) return detectStatic(o.hasProgram('python3'));
  return {
    kind: 'unknown', command: 'node server.js', healthPath: '/healthz', healthNotes: [],
    commandNotes: ['No package.json, requirements.txt, pyproject.toml or index.html here: replace', 'this with the command that starts your service on the port in $PORT.'],
    summary: 'no Node, Python or static project found: edit run.command',
  };
}

interface PackageJson {
  main?: unknown;
  scripts?: Record<string, unknown>;
  engines?: { node?: unknown };
}

/** `dist/server.js` → `src/server.ts` and `server.ts` (tsc's usual outDir and rootDir), likewise build/ and out/. */
function typeScriptSourcesOf(file: string): string[] {
  const m = /^(?:\.\/)?(?:dist|build|out|lib)\/(.+)\.([cm]?)js$/.exec(file);
  if (!m) return [];
  const ts = `${m[1]}.${m[2]}ts`;
  return [`src/${ts}`, ts];
}

function detectNode(dir: string, nodeVersion: string): ProjectGuess {
  let pkg: PackageJson = {};
  const notes: string[] = [];
  try {
    pkg = JSON.parse(read(dir, 'package.json') ?? '{}') as PackageJson;
  } catch (e) {
    notes.push(`package.json could not be read (${(e as Error).message}); check the command.`);
  }
  const engines = typeof pkg.engines?.node === 'string' ? pkg.engines.node : null;
  if (engines) notes.push(`package.json wants node ${engines}; the node on this machine is ${nodeVersion}.`);
  notes.push('Dependencies are not installed by slipway: run npm ci before deploying, so', 'that node_modules is packed with the service (npm ci --omit=dev for less).');
  if (typeof pkg.scripts?.build === 'string') {
    notes.push('Nor is anything built: run npm run build before slipway deploy, so that what', 'it writes (dist/) is packed; slipway release runs build.command (docs/pipeline.md).');
  }
  const start = typeof pkg.scripts?.start === 'string' ? pkg.scripts.start.trim() : null;
  const main = typeof pkg.main === 'string' ? pkg.main : null;
  const fallback = ['server.js', 'app.js', 'index.js', 'main.js'].find((f) => existsSync(join(dir, f)));
  let command: string;
  let from: string;
  if (start) {
    // `$PORT` in an npm script is read by its shell; slipway replaces `${PORT}` itself.
    const direct = start.replace(/\$PORT\b/g, '${PORT}').replace(/\$\{PORT\}/g, '${PORT}');
    const split = splitShellWords(direct);
    if (split.ok && split.words.length > 0 && (split.references ?? []).every((r) => r === 'PORT')) {
      command = direct;
      from = `package.json's start script (${JSON.stringify(start)})`;
    } else {
      command = 'npm start';
      from = `package.json's start script, which needs a shell (${JSON.stringify(start)}); npm runs it with one`;
    }
  } else if (main) {
    command = `node ${main}`;
    from = `package.json's main (${main}); there is no start script`;
  } else {
    command = `node ${fallback ?? 'server.js'}`;
    from = fallback ? `${fallback}, found here (package.json has neither a start script nor main)` : 'nothing: package.json has no start script and no main; edit it';
  }
  const split = splitShellWords(command);
  const scripts = [main, fallback, ...(split.ok ? split.words : [])].filter((f): f is string => !!f && /\.[cm]?[jt]s$/.test(f));
  // A build's output (dist/server.js) may not be there yet: its TypeScript source (src/server.ts) says as much.
  const sources = [...scripts, ...scripts.flatMap(typeScriptSourcesOf)];
  return {
    kind: 'node', command, commandNotes: [`Guessed from ${from}.`, ...notes], ...healthGuess(dir, sources),
    summary: `Node project: run.command ${command}`,
  };
}

const PYTHON_APP_FILES = ['app.py', 'main.py', 'server.py', 'wsgi.py', 'asgi.py'];

function detectPython(dir: string): ProjectGuess {
  const requirements = `${read(dir, 'requirements.txt') ?? ''}\n${read(dir, 'pyproject.toml') ?? ''}`.toLowerCase();
  const has = (name: string) => new RegExp(`(^|[\\s"'\\[,])${name}([\\s=<>~!\\[;"',]|$)`, 'm').test(requirements);
  const appFile = PYTHON_APP_FILES.find((f) => existsSync(join(dir, f)));
  const module = appFile?.replace(/\.py$/, '') ?? 'app';
  // A virtualenv inside the service directory is packed with it; its tools are then found by path.
  const venvBin = ['.venv', 'venv'].map((v) => join(v, 'bin')).find((b) => existsSync(join(dir, b, 'python3')));
  const tool = (name: string) => (venvBin && existsSync(join(dir, venvBin, name)) ? `${venvBin}/${name}` : name);
  const notes = [
    venvBin
      ? `Uses the virtualenv ${venvBin.split('/')[0]}/ of this directory, which is packed with the service.`
      : 'Dependencies are not installed by slipway: install them where the instances find them (a .venv here, then .venv/bin/... in the command).',
  ];
  let command: string;
  if (existsSync(join(dir, 'manage.py'))) {
    command = has('gunicorn') ? `${tool('gunicorn')} --bind 127.0.0.1:\${PORT} ${module === 'app' ? 'mysite' : module}.wsgi` : `${tool('python3')} manage.py runserver 127.0.0.1:\${PORT} --noreload`;
    notes.unshift('Guessed from manage.py (Django). With gunicorn: gunicorn --bind 127.0.0.1:${PORT} <project>.wsgi');
  } else if (has('uvicorn') || has('fastapi')) {
    command = `${tool('uvicorn')} ${module}:app --host 127.0.0.1 --port \${PORT}`;
    notes.unshift(`Guessed from ${appFile ?? 'the requirements'} and uvicorn/fastapi in the requirements: the ASGI app "app" in ${module}.py.`);
  } else if (has('gunicorn') || has('flask')) {
    command = has('gunicorn') ? `${tool('gunicorn')} --bind 127.0.0.1:\${PORT} ${module}:app` : `${tool('python3')} -m flask --app ${module} run --host 127.0.0.1 --port \${PORT}`;
    notes.unshift(`Guessed from ${appFile ?? 'the requirements'} and ${has('gunicorn') ? 'gunicorn' : 'flask'} in the requirements: the WSGI app "app" in ${module}.py.`, 'For production prefer gunicorn: gunicorn --bind 127.0.0.1:${PORT} ' + `${module}:app`);
  } else {
    command = `${tool('python3')} ${appFile ?? 'app.py'}`;
    notes.unshift(`Guessed from ${appFile ?? 'nothing (no app.py, main.py, server.py)'}: it must listen on the port in $PORT.`, 'Or, with a WSGI app: gunicorn --bind 127.0.0.1:${PORT} module:app');
  }
  return { kind: 'python', command, commandNotes: notes, ...healthGuess(dir, appFile ? [appFile] : []), summary: `Python project: run.command ${command}` };
}

function detectStatic(hasPython: boolean): ProjectGuess {
  const notes = hasPython
    ? ['A static site (index.html): served by Python\'s built-in file server. Fine for', 'a small site; put a real web server or a CDN in front of a busy one.']
    : ['A static site (index.html), but no python3 on this machine for its built-in', 'file server: install python3, or replace this with any static file server', 'that listens on ${PORT} (e.g. npm install serve, then: serve -l ${PORT} .).'];
  return {
    kind: 'static', command: 'python3 -m http.server ${PORT} --bind 127.0.0.1 --directory .', commandNotes: notes,
    healthPath: '/', healthNotes: ['The home page (index.html) is what a probe requests.'],
    summary: 'static site: served by python3 -m http.server',
  };
}
