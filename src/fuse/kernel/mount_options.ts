/**
 * `-o` mount options as FUSE file systems take them (`-o allow_other,ro,fsname=cluster`), parsed
 * into what the kernel session and the mount call need. An unknown or malformed option is an
 * error naming it, so a typo never mounts something other than what was asked for.
 */
import { limits } from '../../util/limits.js';

/** The parsed options of one mount. */
export interface FuseMountOptions {
  /** Let users other than the mounting one in (the kernel refuses them, root included, otherwise). */
  readonly allowOther: boolean;
  /** The kernel checks permission bits itself against the attributes we report. */
  readonly defaultPermissions: boolean;
  /** Mount read-only (MS_RDONLY): every write fails with EROFS in the kernel. */
  readonly readOnly: boolean;
  /** The mount's source in /proc/mounts. */
  readonly fsname: string;
  /** The type shown as fuse.<subtype>. */
  readonly subtype: string;
  /** Largest read request in bytes; 0 leaves it to max_pages (1 MiB). */
  readonly maxReadBytes: number;
  /** MS_NOATIME: the kernel never asks to update access times on reads. */
  readonly noatime: boolean;
  /** FUSE_WRITEBACK_CACHE: the kernel buffers writes in its page cache and sends them later. */
  readonly writebackCache: boolean;
  /** Unmount when the serving process ends, even by SIGKILL (a watcher process does it). */
  readonly autoUnmount: boolean;
  /** How long the kernel may cache a name's lookup; the file system's default for its replies. */
  readonly entryTimeoutMs: number;
  /** How long the kernel may cache attributes; the file system's default for its replies. */
  readonly attrTimeoutMs: number;
  /** The mount's read-ahead in KiB (its bdi's read_ahead_kb), set after mounting; 0 keeps the kernel's. */
  readonly readAheadKib: number;
}

/** A bad -o option; the message names it. */
export class MountOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MountOptionError';
  }
}

/** The options when none are given: private to the mounting user, read-write, 1 s caches. */
export const defaultMountOptions: FuseMountOptions = {
  allowOther: false,
  defaultPermissions: false,
  readOnly: false,
  fsname: 'fsraft',
  subtype: 'fsraft',
  maxReadBytes: 0,
  noatime: false,
  writebackCache: false,
  autoUnmount: false,
  entryTimeoutMs: 1000,
  attrTimeoutMs: 1000,
  readAheadKib: limits.fuseReadAheadKibDefault,
};

/** Splits "a,b\,c" at unescaped commas; a backslash escapes the next character (libfuse's rule). */
function splitOptions(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '\\' && index + 1 < text.length) {
      current += text[++index];
    } else if (char === ',') {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts.filter((part) => part !== '');
}

function seconds(name: string, value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0 || number > limits.fuseCacheTimeoutSecondsMax) {
    throw new MountOptionError(`mount option ${name}=${value}: want seconds from 0 to ${limits.fuseCacheTimeoutSecondsMax}`);
  }
  return Math.round(number * 1000);
}

/** A name that fusermount's -o string and /proc/mounts can carry as it is. */
function mountName(name: string, value: string): string {
  // A comma would split fusermount's option string; whitespace and control bytes garble /proc/mounts.
  if (value === '' || value.length > 255 || /[,\s\\\x00-\x1f]/.test(value)) {
    throw new MountOptionError(`mount option ${name}=${JSON.stringify(value)}: want 1 to 255 characters without commas, spaces or backslashes`);
  }
  return value;
}

/**
 * Parses option strings ("allow_other,ro", several allowed, later ones win) over `base`. Throws a
 * MountOptionError naming the first unknown or malformed option.
 */
export function parseMountOptions(texts: string | readonly string[], base: FuseMountOptions = defaultMountOptions): FuseMountOptions {
  const options: { -readonly [K in keyof FuseMountOptions]: FuseMountOptions[K] } = { ...base };
  for (const text of typeof texts === 'string' ? [texts] : texts) {
    for (const option of splitOptions(text)) {
      const equals = option.indexOf('=');
      const name = equals === -1 ? option : option.slice(0, equals);
      const value = equals === -1 ? undefined : option.slice(equals + 1);
      const flag = (set: () => void): void => {
        if (value !== undefined) throw new MountOptionError(`mount option ${name} takes no value (got ${option})`);
        set();
      };
      const valued = (): string => {
        if (value === undefined) throw new MountOptionError(`mount option ${name} needs a value (${name}=...)`);
        return value;
      };
      switch (name) {
        case 'allow_other': flag(() => (options.allowOther = true)); break;
        case 'default_permissions': flag(() => (options.defaultPermissions = true)); break;
        case 'ro': flag(() => (options.readOnly = true)); break;
        case 'rw': flag(() => (options.readOnly = false)); break;
        case 'noatime': flag(() => (options.noatime = true)); break;
        // Always in force: a FUSE mount never honours device nodes or setuid bits of its files.
        case 'nodev': flag(() => undefined); break;
        case 'nosuid': flag(() => undefined); break;
        case 'writeback_cache': flag(() => (options.writebackCache = true)); break;
        case 'auto_unmount': flag(() => (options.autoUnmount = true)); break;
        case 'fsname': options.fsname = mountName(name, valued()); break;
        case 'subtype': options.subtype = mountName(name, valued()); break;
        case 'max_read': {
          const text = valued();
          const bytes = Number(text);
          if (!/^\d+$/.test(text) || bytes < 4096 || bytes > limits.fuseMaxWriteBytes) {
            throw new MountOptionError(`mount option max_read=${text}: want bytes from 4096 to ${limits.fuseMaxWriteBytes}`);
          }
          options.maxReadBytes = bytes;
          break;
        }
        case 'read_ahead_kb': {
          const text = valued();
          const kib = Number(text);
          if (!/^\d+$/.test(text) || kib > limits.fuseReadAheadKibMax) {
            throw new MountOptionError(`mount option read_ahead_kb=${text}: want KiB from 0 (the kernel's) to ${limits.fuseReadAheadKibMax}`);
          }
          options.readAheadKib = kib;
          break;
        }
        case 'entry_timeout': options.entryTimeoutMs = seconds(name, valued()); break;
        case 'attr_timeout': options.attrTimeoutMs = seconds(name, valued()); break;
        default:
          throw new MountOptionError(`unknown mount option ${JSON.stringify(option)}`);
      }
    }
  }
  return options;
}

/** The -o string for fusermount: the options that reach the kernel mount, as fusermount reads them. */
export function fusermountOptionString(options: FuseMountOptions): string {
  const parts = [options.readOnly ? 'ro' : 'rw', 'nosuid', 'nodev', `fsname=${options.fsname}`, `subtype=${options.subtype}`];
  if (options.noatime) parts.push('noatime');
  if (options.allowOther) parts.push('allow_other');
  if (options.defaultPermissions) parts.push('default_permissions');
  if (options.maxReadBytes > 0) parts.push(`max_read=${options.maxReadBytes}`);
  if (options.autoUnmount) parts.push('auto_unmount');
  return parts.join(',');
}
