import test from 'tape';
import { nameBytesMax, normalizeName, validateName } from '../../src/fs/names.js';

test('names: plain, nested, leading-slash and unicode names are valid', (t) => {
  for (const name of ['a', 'dir/file.txt', '/dir/file', '.hidden', 'a..b', 'with space', 'é/文件', '\uFEFFbom']) {
    t.equal(validateName(name), null, JSON.stringify(name));
  }
  t.end();
});

test('names: empty, empty components, dot components, NUL and lone surrogates are refused', (t) => {
  const bad = ['', '/', '//a', 'a//b', 'a/', '.', '..', 'a/./b', 'a/../b', '/..', 'a\0b', 'x\uD800', '\uDC00x'];
  for (const name of bad) t.equal(typeof validateName(name), 'string', JSON.stringify(name));
  t.end();
});

test('names: the length limit counts UTF-8 bytes', (t) => {
  t.equal(validateName('a'.repeat(nameBytesMax)), null);
  t.equal(typeof validateName('a'.repeat(nameBytesMax + 1)), 'string');
  t.equal(typeof validateName('é'.repeat(nameBytesMax / 2 + 1)), 'string', '2-byte characters');
  t.equal(validateName('é'.repeat(nameBytesMax / 2)), null);
  t.end();
});

test('names: normalizeName strips one leading slash and is idempotent on valid names', (t) => {
  t.equal(normalizeName('/a/b'), 'a/b');
  t.equal(normalizeName('a/b'), 'a/b');
  t.equal(normalizeName(normalizeName('/a')), 'a');
  t.end();
});
