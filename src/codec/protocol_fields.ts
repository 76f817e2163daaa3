/**
 * Field-level helpers shared by the command parser and the reply parser: splitting a protocol line
 * into fields and reading strict decimal numbers, on bytes (no string round trip per line).
 */

const SPACE = 0x20;
const TAB = 0x09;
const PERCENT = 0x25;

/** Up to `fieldsMax` fields, split on runs of spaces and tabs, as views into `line`. */
export function splitFields(line: Uint8Array, fieldsMax: number): Uint8Array[] {
  const fields: Uint8Array[] = [];
  let i = 0;
  while (i < line.length && fields.length < fieldsMax) {
    while (i < line.length && isBlank(line[i])) i++;
    const start = i;
    while (i < line.length && !isBlank(line[i])) i++;
    if (i > start) fields.push(line.subarray(start, i));
  }
  return fields;
}

function isBlank(byte: number | undefined): boolean {
  return byte === SPACE || byte === TAB;
}

/** '-': a negative number's sign. */
export const hyphen = 0x2d;

/** A decimal integer with an optional '-' (times before the epoch). */
export function parseSignedDecimal(field: Uint8Array): number | undefined {
  if (field[0] !== hyphen) return parseDecimal(field);
  const magnitude = parseDecimal(field.subarray(1));
  return magnitude === undefined ? undefined : -magnitude || 0;
}

/**
 * Decimal digits only, at most Number.MAX_SAFE_INTEGER. Refuses '', '+1', '-1', '1e3', '0x10':
 * Number() would accept most of them, and a numbytes of '1e3' read as 1000 would desynchronize
 * the stream from what the client meant.
 */
export function parseDecimal(field: Uint8Array): number | undefined {
  if (field.length === 0) return undefined;
  let value = 0;
  for (const byte of field) {
    const digit = byte - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
    // Stop early: a 10,000-digit numbytes must not be multiplied out to Infinity.
    if (value > Number.MAX_SAFE_INTEGER) return undefined;
  }
  return value;
}

/** At most 40 bytes of a field with non-printable bytes escaped, safe to put in a log line. */
export function printable(field: Uint8Array): string {
  let text = '';
  for (const byte of field.subarray(0, 40)) {
    text += byte >= 0x20 && byte < 0x7f && byte !== PERCENT ? String.fromCharCode(byte) : `%${hex2(byte)}`;
  }
  return field.length > 40 ? `${text}...` : text;
}

/** A byte as two upper-case hex digits. */
export function hex2(byte: number): string {
  return byte.toString(16).toUpperCase().padStart(2, '0');
}


/** '%XY' (hex, either case) becomes byte 0xXY; undefined for a '%' not followed by two hex digits. */
export function percentDecode(field: Uint8Array): Uint8Array | undefined {
  if (!field.includes(PERCENT)) return field;
  const out = new Uint8Array(field.length);
  let length = 0;
  for (let i = 0; i < field.length; i++) {
    const byte = field[i]!;
    if (byte !== PERCENT) {
      out[length++] = byte;
      continue;
    }
    const high = hexValue(field[i + 1]);
    const low = hexValue(field[i + 2]);
    if (high < 0 || low < 0) return undefined;
    out[length++] = high * 16 + low;
    i += 2;
  }
  return out.subarray(0, length);
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  return -1;
}

/** Octal digits only (a mode such as `644`), at most `max`; undefined otherwise. */
export function parseOctal(field: Uint8Array, max: number): number | undefined {
  if (field.length === 0 || field.length > 8) return undefined;
  let value = 0;
  for (const byte of field) {
    const digit = byte - 0x30;
    if (digit < 0 || digit > 7) return undefined;
    value = value * 8 + digit;
  }
  return value <= max ? value : undefined;
}

const encoder = new TextEncoder();

/** Header, content and the content's CRLF in one array, so the socket gets one write. */
export function withContent(header: string, content: Uint8Array): Uint8Array {
  const head = encoder.encode(header);
  const bytes = new Uint8Array(head.length + content.length + 2);
  bytes.set(head, 0);
  bytes.set(content, head.length);
  bytes[bytes.length - 2] = 0x0d;
  bytes[bytes.length - 1] = 0x0a;
  return bytes;
}
