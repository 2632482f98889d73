/**
 * JSON parsed strictly for hostile input (bundles, JWT headers and claims):
 * duplicate keys rejected, nesting bounded, and the source text of numbers
 * kept so 64-bit values such as spiffe_sequence lose no precision.
 */
import { EncodingError } from './errors.js';

/** A parsed JSON document that remembers the source text of its numbers. */
export interface StrictJson {
  readonly value: unknown;
  /**
   * The number token as written for `holder[key]`, e.g. to read a 64-bit
   * integer that a JS number would round. Undefined unless that member is a number.
   */
  rawNumber(holder: object, key: string): string | undefined;
}

const MAX_JSON_DEPTH = 64;
const SIMPLE_ESCAPES = new Map([
  ['"', '"'],
  ['\\', '\\'],
  ['/', '/'],
  ['b', '\b'],
  ['f', '\f'],
  ['n', '\n'],
  ['r', '\r'],
  ['t', '\t'],
]);
const NUMBER_TOKEN = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * RFC 8259 JSON, rejecting duplicate object keys (JSON.parse silently keeps
 * the last, which lets two readers of one document see two different
 * bundles or JWT headers). Throws EncodingError ('json' or
 * 'json-duplicate-key') with the offset or the key's path.
 */
export function parseStrictJson(text: string): StrictJson {
  const raw = new WeakMap<object, Map<string, string>>();
  const reader = new JsonReader(text, raw);
  const value = reader.document();
  return {
    value,
    rawNumber: (holder, key) => raw.get(holder)?.get(key),
  };
}

class JsonReader {
  private pos = 0;
  private lastNumber: string | undefined;
  private readonly path: (string | number)[] = [];

  constructor(
    private readonly text: string,
    private readonly raw: WeakMap<object, Map<string, string>>,
  ) {}

  document(): unknown {
    this.ws();
    const value = this.value(0);
    this.ws();
    if (this.pos < this.text.length) this.fail('unexpected data after the JSON value');
    return value;
  }

  private value(depth: number): unknown {
    if (depth > MAX_JSON_DEPTH) this.fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    this.lastNumber = undefined;
    const c = this.text[this.pos];
    switch (c) {
      case '{':
        return this.object(depth);
      case '[':
        return this.array(depth);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        return this.number();
    }
  }

  private object(depth: number): Record<string, unknown> {
    this.pos++;
    const obj: Record<string, unknown> = {};
    const seen = new Set<string>();
    let numbers: Map<string, string> | undefined;
    this.ws();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return obj;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] !== '"') this.fail('expected a string key');
      const key = this.string();
      if (seen.has(key)) {
        throw new EncodingError('json-duplicate-key', `duplicate key ${JSON.stringify(key)} in ${this.where()}`, {
          key,
          path: this.where(),
        });
      }
      seen.add(key);
      this.ws();
      if (this.text[this.pos] !== ':') this.fail('expected ":"');
      this.pos++;
      this.ws();
      this.path.push(key);
      const value = this.value(depth + 1);
      this.path.pop();
      if (this.lastNumber !== undefined) (numbers ??= new Map()).set(key, this.lastNumber);
      // defineProperty, not assignment: a "__proto__" key must stay data, not swap the prototype.
      Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
      this.ws();
      const sep = this.text[this.pos++];
      if (sep === '}') break;
      if (sep !== ',') this.fail('expected "," or "}"', this.pos - 1);
    }
    if (numbers) this.raw.set(obj, numbers);
    this.lastNumber = undefined;
    return obj;
  }

  private array(depth: number): unknown[] {
    this.pos++;
    const arr: unknown[] = [];
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return arr;
    }
    for (;;) {
      this.ws();
      this.path.push(arr.length);
      arr.push(this.value(depth + 1));
      this.path.pop();
      this.ws();
      const sep = this.text[this.pos++];
      if (sep === ']') break;
      if (sep !== ',') this.fail('expected "," or "]"', this.pos - 1);
    }
    this.lastNumber = undefined;
    return arr;
  }

  private string(): string {
    const start = ++this.pos;
    let out = '';
    let chunk = start;
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated string', start - 1);
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x22) {
        out += this.text.slice(chunk, this.pos++);
        return out;
      }
      if (c < 0x20) this.fail('control character in a string');
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += this.text.slice(chunk, this.pos);
      const e = this.text[this.pos + 1] ?? '';
      const simple = SIMPLE_ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
        this.pos += 2;
      } else if (e === 'u') {
        const hex = this.text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 6;
      } else {
        this.fail('bad escape');
      }
      chunk = this.pos;
    }
  }

  private number(): number {
    NUMBER_TOKEN.lastIndex = this.pos;
    const m = NUMBER_TOKEN.exec(this.text);
    if (!m) this.fail(this.pos >= this.text.length ? 'unexpected end of input' : 'unexpected character');
    this.pos += m[0].length;
    this.lastNumber = m[0];
    return Number(m[0]);
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('unexpected character');
    this.pos += word.length;
    return value;
  }

  private ws(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.pos++;
    }
  }

  private where(): string {
    return '$' + this.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
  }

  private fail(message: string, at = this.pos): never {
    const near = at < this.text.length ? ` near ${JSON.stringify(this.text.slice(at, at + 12))}` : '';
    throw new EncodingError('json', `invalid JSON: ${message} at offset ${at}${near}`, { offset: at });
  }
}

/** Bytes must be valid UTF-8 (RFC 8259 §8.1); a lenient decode would turn garbage into U+FFFD silently. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    throw new EncodingError('utf8', 'not valid UTF-8', {}, { cause: err });
  }
}
