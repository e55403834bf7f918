import { describe, expect, it } from 'vitest';
import { joinShellWords, splitShellWords } from './shell-words.ts';

describe('splitShellWords', () => {
  const splits: [string, string[]][] = [
    ['node server.js', ['node', 'server.js']],
    ['  node   server.js\t--port\n8080 ', ['node', 'server.js', '--port', '8080']],
    ["node 'my server.js'", ['node', 'my server.js']],
    ["echo 'a \"b\" \\c'", ['echo', 'a "b" \\c']],
    ['node "my server.js"', ['node', 'my server.js']],
    ['echo "say \\"hi\\" \\\\ \\$HOME \\n"', ['echo', 'say "hi" \\ $HOME \\n']],
    ['echo my\\ file \\"x\\"', ['echo', 'my file', '"x"']],
    ["--flag='a b'c\"d e\"", ['--flag=a bcd e']],
    ["run '' \"\"", ['run', '', '']],
    ['node "$PORT"', ['node', '$PORT']],
    ['node "${PORT}" \'${PORT}\'', ['node', '${PORT}', '${PORT}']],
    ["node '|' 'a;b' \\>", ['node', '|', 'a;b', '>']],
    ['node \\\n  server.js', ['node', 'server.js']],
    ['', []],
    ['   ', []],
  ];
  it.each(splits)('splits %j', (text, words) => {
    expect(splitShellWords(text)).toEqual({ ok: true, words });
  });

  const refusals: [string, string, number][] = [
    ["node 'server.js", 'unclosed single quote', 5],
    ['node "server.js', 'unclosed double quote', 5],
    ['node "a\\"', 'unclosed double quote', 5],
    ['node server.js \\', 'lone backslash at the end', 15],
    ['node server.js > out.log', '">" needs a shell', 15],
    ['npm run build && npm start', '"&" needs a shell', 14],
    ['node server.js --port $PORT', '"$PORT" needs a shell', 22],
    ['node server.js --port $PORT', 'write ${PORT}', 22],
    ['node server.js --home $HOME', 'for anything else read the variable in the program', 22],
    ['node server.js --port ${PORT:-80}', '"$" needs a shell', 22],
    ['node server.js | tee log', '"|" needs a shell', 15],
  ];
  it('does not suggest ${NAME} for a variable other than the port, which would be refused next', () => {
    const result = splitShellWords('node server.js --home $HOME');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).not.toContain('${HOME}');
  });

  it.each(refusals)('refuses %j', (text, error, index) => {
    const result = splitShellWords(text);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error).toContain(error);
      expect(result.index).toBe(index);
    }
  });
});

describe('unquoted ${NAME} references', () => {
  it('keeps them as written and reports their names', () => {
    expect(splitShellWords('node app.js --port ${PORT} --x=${APP_PORT}')).toEqual({
      ok: true, words: ['node', 'app.js', '--port', '${PORT}', '--x=${APP_PORT}'], references: ['PORT', 'APP_PORT'],
    });
  });
});

describe('joinShellWords', () => {
  const argvs = [
    ['node', 'server.js'],
    ['node', 'my server.js', "it's", '', 'a"b', '$HOME', 'x>y', '--a=b,c'],
    ['sh', '-c', 'npm run build && npm start'],
  ];
  it.each(argvs)('quotes so that splitting gives %j back', (...argv) => {
    expect(splitShellWords(joinShellWords(argv))).toEqual({ ok: true, words: argv });
  });

  it('leaves plain words unquoted', () => {
    expect(joinShellWords(['node', 'server.js', '--port=8080'])).toBe('node server.js --port=8080');
  });
});
