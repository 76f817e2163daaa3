/**
 * The fields of a command line, read one at a time as typed values (names, counts, modes, times,
 * exptimes, request ids) or ParseErrors that name the command and the field. Nothing here
 * throws: bad bytes from a socket are values (design.md, contract 5).
 */
import { isRootName, normalizeName, validatePath } from '../fs/names.js';
import { modeMax, ownerIdMax } from '../fs/tree_common.js';
import type { Timespec } from '../fs/types.js';
import { signedTime, type ParseError, type ParseErrorCode, type RequestId } from './client_protocol.js';
import { parseDecimal, parseOctal, percentDecode, printable } from './protocol_fields.js';

/** The byte `-`: "unchanged" in an optional field, and the sign of `-1` and of a negative time. */
export const HYPHEN = 0x2d;

const DIGIT_ONE = 0x31;

/** The longest command word ('removexattr'). */
export const commandWordBytesMax = 11;

// fatal: invalid UTF-8 in a name is an error, not a silently different name with U+FFFD.
// ignoreBOM: otherwise a leading U+FEFF would vanish from the name.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads the fields after the command word left to right, each as a typed value or a ParseError
 * naming the command and the field.
 */
export class FieldReader {
  private position = 1;

  constructor(
    readonly op: string,
    private readonly fields: readonly Uint8Array[],
  ) {}

  name(rootAllowed = true): string | ParseError {
    return parseNameField(this.op, this.next(), rootAllowed);
  }

  count(what: string): number | ParseError {
    return parseCountField(this.op, what, this.next());
  }

  mode(): number | ParseError {
    const field = this.next();
    if (field === undefined) return parseError('missing_field', `${this.op}: missing mode`);
    const mode = parseOctal(field, modeMax);
    return mode ?? parseError('invalid_field', `${this.op}: mode '${printable(field)}' is not octal up to 7777`);
  }

  /** An owner id: decimal, 0 to 2^32-1. */
  ownerId(what: string): number | ParseError {
    const field = this.next();
    if (field === undefined) return parseError('missing_field', `${this.op}: missing ${what}`);
    const value = parseDecimal(field);
    return value !== undefined && value <= ownerIdMax ? value : parseError('invalid_field', `${this.op}: ${what} '${printable(field)}' is not 0 to 4294967295`);
  }

  /** `-` for "unchanged", else a number read by `parse`. */
  optional(what: string, parse: (field: Uint8Array) => number | undefined): number | undefined | ParseError {
    const field = this.next();
    if (field === undefined) return parseError('missing_field', `${this.op}: missing ${what}`);
    if (field.length === 1 && field[0] === HYPHEN) return undefined;
    return parse(field) ?? parseError('invalid_field', `${this.op}: ${what} '${printable(field)}' is not valid`);
  }

  /** An extended attribute name: percent-decoded UTF-8 without NUL. */
  attr(): string | ParseError {
    const field = this.next();
    if (field === undefined) return parseError('missing_field', `${this.op}: missing attribute name`);
    const text = decodeText(field);
    if (text === undefined || text.length === 0 || text.includes('\0')) return parseError('invalid_field', `${this.op}: bad attribute name '${printable(field)}'`);
    return text;
  }

  /** A plain word (a kind, a flag), or undefined when absent. */
  word(): string | undefined {
    const field = this.next();
    return field === undefined ? undefined : String.fromCharCode(...field.subarray(0, 32));
  }

  /** The optional trailing `<clientId>:<sequence>`. */
  request(): RequestId | ParseError | undefined {
    return parseRequestField(this.op, this.next());
  }

  exptime(): number | ParseError {
    return parseExptimeField(this.op, this.next());
  }

  /** A byte offset, or `-1` for "at the end". */
  offset(): number | ParseError {
    const field = this.next();
    if (field !== undefined && field.length === 2 && field[0] === HYPHEN && field[1] === DIGIT_ONE) return -1;
    return parseCountField(this.op, 'offset', field);
  }

  /** The fields not read yet, for commands with optional flags before the request id. */
  rest(): Uint8Array[] {
    const rest = this.fields.slice(this.position);
    this.position = this.fields.length;
    return rest;
  }

  next(): Uint8Array | undefined {
    return this.fields[this.position++];
  }
}

/** True for a ParseError (as opposed to a field's value). */
export function isParseError(value: unknown): value is ParseError {
  return typeof value === 'object' && value !== null && 'type' in value && (value as { type: unknown }).type === 'error';
}

/** Builds from a field's value, or passes its ParseError on. */
export function withField<T, C>(value: T | ParseError, build: (value: T) => C): C | ParseError {
  return isParseError(value) ? value : build(value);
}

/**
 * `now`, or `<seconds>.<nanoseconds>` (1 to 9 fraction digits), or whole `<seconds>`; negative
 * (a leading '-') before the epoch, as formatTime writes it.
 */
export function parseTime(value: Uint8Array): Timespec | 'now' | undefined {
  if (value.length === 3 && String.fromCharCode(...value) === 'now') return 'now';
  const negative = value[0] === HYPHEN;
  const unsigned = negative ? value.subarray(1) : value;
  const dot = unsigned.indexOf(0x2e);
  const whole = parseDecimal(dot < 0 ? unsigned : unsigned.subarray(0, dot));
  if (whole === undefined) return undefined;
  if (dot < 0) return signedTime(negative, whole, 0);
  const fraction = unsigned.subarray(dot + 1);
  if (fraction.length === 0 || fraction.length > 9) return undefined;
  const digits = parseDecimal(fraction);
  return digits === undefined ? undefined : signedTime(negative, whole, digits * 10 ** (9 - fraction.length));
}

/**
 * The optional request id field. Only a field with a ':' is one, so the course protocol's
 * "extra trailing fields are ignored" still holds for anything else; a malformed id is an error
 * rather than a silently non-idempotent retry.
 */
export function parseRequestField(op: string, field: Uint8Array | undefined): RequestId | ParseError | undefined {
  if (field === undefined) return undefined;
  const colon = field.indexOf(0x3a);
  if (colon < 0) return undefined;
  const clientId = parseDecimal(field.subarray(0, colon));
  const sequence = parseDecimal(field.subarray(colon + 1));
  if (clientId === undefined || sequence === undefined || clientId < 1 || sequence < 1) {
    return parseError('invalid_field', `${op}: request id '${printable(field)}' is not <clientId>:<sequence> with both at least 1`);
  }
  return { clientId, sequence };
}

/** The field as text if it could be a command word (short ASCII), else ''. */
export function commandWord(field: Uint8Array): string {
  return field.length <= commandWordBytesMax ? String.fromCharCode(...field) : '';
}

/** Percent-decoded UTF-8 text, or undefined. */
function decodeText(field: Uint8Array): string | undefined {
  const bytes = percentDecode(field);
  if (bytes === undefined) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * A name field: percent-decoded, UTF-8, valid, normalized. The root ('/') only where `rootAllowed`:
 * the course commands read, write and cas keep refusing it as malformed, as they always did; the
 * others take it so the state machine can answer (ERR_INVALID, or the root's attributes).
 */
function parseNameField(op: string, field: Uint8Array | undefined, rootAllowed: boolean): string | ParseError {
  if (field === undefined) return parseError('missing_field', `${op}: missing name`);
  const bytes = percentDecode(field);
  if (bytes === undefined) return parseError('invalid_name', `${op}: bad percent escape in '${printable(field)}'`);
  let name: string;
  try {
    name = utf8.decode(bytes);
  } catch {
    return parseError('invalid_name', `${op}: name is not valid UTF-8`);
  }
  const problem = validatePath(name, rootAllowed);
  if (problem !== null) return parseError('invalid_name', `${op}: ${problem}`);
  return isRootName(name) ? name : normalizeName(name);
}

function parseCountField(op: string, what: string, field: Uint8Array | undefined): number | ParseError {
  if (field === undefined) return parseError('missing_field', `${op}: missing ${what}`);
  const value = parseDecimal(field);
  if (value === undefined) {
    return parseError('invalid_field', `${op}: ${what} '${printable(field)}' is not a non-negative integer`);
  }
  return value;
}

/** Absent means never expires; a leading '-' is allowed (negative also means never). */
function parseExptimeField(op: string, field: Uint8Array | undefined): number | ParseError {
  if (field === undefined) return 0;
  const negative = field[0] === 0x2d;
  const value = parseDecimal(negative ? field.subarray(1) : field);
  if (value === undefined) return parseError('invalid_field', `${op}: exptime '${printable(field)}' is not an integer`);
  // `|| 0` turns "-0" into 0 so it encodes like any other "never".
  return negative ? -value || 0 : value;
}

/** A ParseError with its code and a reason that names the command and field. */
export function parseError(code: ParseErrorCode, reason: string): ParseError {
  return { type: 'error', code, reason };
}
