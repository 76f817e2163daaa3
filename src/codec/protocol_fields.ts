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

