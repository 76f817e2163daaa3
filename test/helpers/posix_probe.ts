/**
 * System calls through a mount, batched: one python3 process runs a script of calls as a given
 * user and answers a JSON object of what each returned (a value, or the errno's name when it was
 * refused), so a test makes dozens of checks per process instead of one process per call.
 */
import { runTool, type RunAs } from '../../src/launch/mount_process.js';

/** The system python (not a per-user shim that another user could not run). */
export const python = '/usr/bin/python3';

/** Users the posix tests act as besides root (setpriv --clear-groups: no supplementary groups). */
export const nobody: RunAs = { uid: 65534, gid: 65534 };
export const alice: RunAs = { uid: 1000, gid: 1000 };
export const bob: RunAs = { uid: 1001, gid: 1001 };

/**
 * Available to every script: `R`, the dict printed at the end; `E(f, *args)`, 'OK' or the errno
 * name f raised; `st(p)`, lstat as a dict; `renameat2(a, b, flags)`; `put(p, data)`, a write
 * without truncating or creating; `get(p)`, the whole content; `before(*paths)` records their
 * stat and `moved(p)` then says which of mtime and ctime changed since: 'mtime+ctime', 'mtime',
 * 'ctime' or 'none'; `tree(top)`, every node below top as one line of its stat (atime aside).
 */
const prelude = `
import ctypes, errno, json, os, socket, stat, sys, time
R = {}
os.umask(0o022)
libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
def E(f, *args, **kwargs):
    try:
        f(*args, **kwargs)
        return 'OK'
    except OSError as error:
        name = errno.errorcode.get(error.errno, str(error.errno))
        # One number, two names: say it the way the man pages of these calls do.
        return 'EOPNOTSUPP' if name == 'ENOTSUP' else name
def st(p):
    s = os.lstat(p)
    return dict(ino=s.st_ino, mode=s.st_mode, nlink=s.st_nlink, uid=s.st_uid, gid=s.st_gid, size=s.st_size,
                blocks=s.st_blocks, atime=s.st_atime_ns, mtime=s.st_mtime_ns, ctime=s.st_ctime_ns, rdev=s.st_rdev)
def renameat2(a, b, flags):
    if libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), a)
def put(p, data, offset=0):
    fd = os.open(p, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)
def get(p):
    with open(p, 'rb') as f:
        return f.read()
def tick():
    # Leaves the cluster's clock a little time to move between two stamps that must differ.
    time.sleep(0.02)
seen = {}
def before(*paths):
    for p in paths:
        seen[p] = st(p)
    tick()
def tree(top='.'):
    # Every node below top (top included): what stat says of it, atime aside.
    out = {}
    for parent, dirs, files in os.walk(top):
        for name in ['.'] + dirs + files:
            p = os.path.normpath(os.path.join(parent, name))
            if name == '.' and parent != top:
                continue
            s = st(p)
            out[p] = ' '.join(str(s[k]) for k in ['ino', 'mode', 'nlink', 'uid', 'gid', 'size', 'mtime', 'ctime', 'rdev'])
    return out
def moved(p, now=None):
    now = now or st(p)
    return '+'.join(k for k in ['mtime', 'ctime'] if now[k] != seen[p][k]) or 'none'
`;

/** What a probe answered: the script's R. */
export type ProbeResult = Record<string, unknown>;

/**
 * Runs `script` (python, after the prelude) in `cwd`, as `asUser` or root, and returns its R.
 * Throws with the script's stderr if it failed (an exception the script did not catch with E).
 */
export async function probe(cwd: string, script: string, asUser?: RunAs): Promise<ProbeResult> {
  const source = `${prelude}\n${dedent(script)}\nprint(json.dumps(R))\n`;
  const result = await runTool(python, ['-c', source], { cwd, timeoutMs: 60_000, ...(asUser === undefined ? {} : { asUser }) });
  if (result.code !== 0) throw new Error(`probe as ${asUser === undefined ? 'root' : asUser.uid} failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as ProbeResult;
}

/** `script` with the indentation of its first non-empty line removed from every line. */
function dedent(script: string): string {
  const lines = script.split('\n');
  const first = lines.find((line) => line.trim() !== '') ?? '';
  const indent = /^\s*/.exec(first)![0].length;
  return lines.map((line) => line.slice(Math.min(indent, /^\s*/.exec(line)![0].length))).join('\n');
}

/** One assertion per expected key of a probe's answer, each named `<who>: <key>`. */
export function expectAll(t: { equal(actual: unknown, expected: unknown, message?: string): void }, who: string, got: ProbeResult, expected: ProbeResult): void {
  for (const [key, value] of Object.entries(expected)) t.equal(got[key], value, `${who}: ${key} -> ${String(value)}`);
}

/**
 * Two `tree()` answers name the same nodes with the same stat lines: one assertion per node that
 * differs, then one for the whole. `what` says how `after` was taken.
 */
export function expectSameTree(t: { equal(actual: unknown, expected: unknown, message?: string): void; deepEqual(actual: unknown, expected: unknown, message?: string): void; ok(value: unknown, message?: string): void }, before: ProbeResult, after: ProbeResult, what: string): void {
  for (const [name, line] of Object.entries(before)) if (after[name] !== line) t.equal(after[name], line, `${name}: the same ${what}`);
  t.deepEqual(Object.keys(after).sort(), Object.keys(before).sort(), `${what}: the same ${Object.keys(before).length} nodes`);
  t.ok(Object.entries(before).every(([name, line]) => after[name] === line), `${what}: each with the same inode number, mode, nlink, owner, size, mtime, ctime and rdev`);
}
