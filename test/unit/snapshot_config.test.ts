import test from 'tape';
import { ConfigError, parseClusterConfig } from '../../src/cli/config.js';

const nodes = [{ id: 1, clientAddress: '127.0.0.1:8001', raftAddress: '127.0.0.1:9001', logDir: 'log', stateDir: 'state' }];

test('config: the snapshot block defaults every field, and takes the ones given', (t) => {
  t.deepEqual(parseClusterConfig({ nodes }, '/etc/fsraft/cluster.json').snapshot, { logEntriesMax: 20_000, logBytesMax: 64 * 1024 * 1024, keepEntries: 5_000, keepBytes: 8 * 1024 * 1024 });
  t.deepEqual(parseClusterConfig({ nodes, snapshot: { logEntriesMax: 100, keepEntries: 0 } }, '/c.json').snapshot, { logEntriesMax: 100, logBytesMax: 64 * 1024 * 1024, keepEntries: 0, keepBytes: 8 * 1024 * 1024 });
  t.end();
});

test('config: a bad snapshot field is a ConfigError naming the file and the field', (t) => {
  const cases: Array<[unknown, string]> = [
    [[], 'snapshot: expected an object'],
    [{ logEntriesMax: 0 }, 'snapshot.logEntriesMax: expected an integer from 1'],
    [{ logBytesMax: 'big' }, 'snapshot.logBytesMax: expected an integer'],
    [{ keepEntries: -1 }, 'snapshot.keepEntries: expected an integer from 0'],
    [{ keepBytes: -1 }, 'snapshot.keepBytes: expected an integer from 0'],
  ];
  for (const [snapshot, fragment] of cases) {
    t.throws(() => parseClusterConfig({ nodes, snapshot }, '/c.json'), (error: unknown) => error instanceof ConfigError && error.message.startsWith('/c.json: ') && error.message.includes(fragment), fragment);
  }
  t.end();
});

test('config: diskReserveBytes defaults to 64 MiB, takes 0 (off), and names itself when bad', (t) => {
  t.equal(parseClusterConfig({ nodes }, '/c.json').diskReserveBytes, 64 * 1024 * 1024);
  t.equal(parseClusterConfig({ nodes }, '/c.json').pendingBytesMax, 64 * 1024 * 1024, 'pendingBytesMax too');
  t.throws(() => parseClusterConfig({ nodes, pendingBytesMax: 0 }, '/c.json'), (error: unknown) => error instanceof ConfigError && error.message.includes('pendingBytesMax: expected an integer from 1'), 'pendingBytesMax 0');
  t.equal(parseClusterConfig({ nodes, diskReserveBytes: 0 }, '/c.json').diskReserveBytes, 0);
  for (const bad of [-1, 1.5, '1G']) {
    t.throws(() => parseClusterConfig({ nodes, diskReserveBytes: bad }, '/c.json'), (error: unknown) => error instanceof ConfigError && error.message.includes('diskReserveBytes: expected an integer'), `diskReserveBytes ${JSON.stringify(bad)}`);
  }
  t.end();
});
