/**
 * Encodes the records a member writes to its Raft log and database (internal requests,
 * hard state, snapshot metadata, state dumps) as bytes, and back: a compact binary form of
 * any JSON-like value whose leaves may be `Uint8Array`s (Node Buffers included).
 *
 * Semantics are JSON's, so that any shape a request kind may take round-trips the same
 * way it did when records were JSON text: object properties whose value is `undefined`, a
 * function or a symbol are left out (in arrays they become `null`), non-finite numbers
 * become `null`, `-0` becomes `0`, a `toJSON()` method is honoured (a `Date` becomes its
 * ISO string), other objects encode their own enumerable string keys. Byte leaves come
 * back as fresh, plain `Uint8Array`s with exactly the same bytes (empty ones as one shared,
 * frozen empty array). Unlike JSON, a `bigint`
 * round-trips (JSON refuses it).
 *
 * Layout: a format byte ({@link RECORD_FORMAT}), then one value. A value is a tag byte
 * and its payload: unsigned LEB128 varints for lengths, counts and integers, UTF-8 for
 * strings and object keys (or one byte for a string of a fixed table of the names records
 * repeat), 8 little-endian bytes for other numbers. A plain put request, the record
 * written most, has a form of its own ({@link PUT_RECORD_FORMAT}) that decodes to the same
 * value. Records written by earlier versions as JSON text (they begin with `{`, `[` or `"`)
 * are still read.
 *
 * @module
 */
import { copyInto, fromBinaryString } from '../api/bytes.js'
import { copyBytes } from '../api/byte-pool.js'
import { assert, InvariantError } from '../errors.js'

/** The format byte every binary record begins with. */
export const RECORD_FORMAT = 0xb1

/**
 * The format byte of a record that is a plain put request (see {@link fitsPutRecord}), the
 * record a member writes and applies most: its fields in a fixed order after one byte of
 * flags, so it is encoded and decoded without field names or per-field tags' dispatch.
 * It decodes to exactly what the general form would (JSON semantics, fresh byte arrays).
 */
export const PUT_RECORD_FORMAT = 0xb2

const PUT_USERNAME = 1
const PUT_AUTH_REVISION = 2
const PUT_PREV_KV = 4
const PUT_IGNORE_VALUE = 8
const PUT_IGNORE_LEASE = 16

/** A put request with nothing but the fields its record form holds (see {@link fitsPutRecord}). */
interface PlainPut {
  header: { memberId: string; id: string; username?: string; authRevision?: number }
  put: { key: Uint8Array; value: Uint8Array; lease: string; prevKv: boolean; ignoreValue: boolean; ignoreLease: boolean }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false
  const proto = Object.getPrototypeOf(v) as unknown
  return proto === Object.prototype || proto === null
}

/**
 * True when `v` is a put request that the put record holds exactly: `{ header, put }` as
 * plain objects, the header's `memberId` and `id` strings, `username` a string and
 * `authRevision` a non-negative safe integer when present (or `undefined`, which JSON
 * leaves out anyway), and `put` with exactly its six fields of their types. Anything else,
 * a `toJSON` or an extra field included, takes the general form.
 */
function fitsPutRecord(v: unknown): v is PlainPut {
  if (!isPlainObject(v)) return false
  let n = 0
  for (const k in v) {
    if (k !== 'header' && k !== 'put') return false
    n++
  }
  if (n !== 2) return false
  const h = v.header
  const p = v.put
  if (!isPlainObject(h) || !isPlainObject(p)) return false
  for (const k in h) {
    const x = h[k]
    if (k === 'memberId' || k === 'id') {
      if (typeof x !== 'string') return false
    } else if (k === 'username') {
      if (x !== undefined && typeof x !== 'string') return false
    } else if (k === 'authRevision') {
      if (x !== undefined && !(Number.isSafeInteger(x) && (x as number) >= 0)) return false
    } else return false
  }
  if (typeof h.memberId !== 'string' || typeof h.id !== 'string') return false
  n = 0
  for (const k in p) {
    const x = p[k]
    if (k === 'key' || k === 'value') {
      if (!(x instanceof Uint8Array)) return false
    } else if (k === 'lease') {
      if (typeof x !== 'string') return false
    } else if (k === 'prevKv' || k === 'ignoreValue' || k === 'ignoreLease') {
      if (typeof x !== 'boolean') return false
    } else return false
    n++
  }
  return n === 6
}

const T_NULL = 0
const T_FALSE = 1
const T_TRUE = 2
const T_UINT = 3 // a non-negative safe integer, varint
const T_NINT = 4 // a negative safe integer, varint of its magnitude
const T_FLOAT = 5 // float64 little-endian
const T_STRING = 6 // varint byte length, UTF-8
const T_BYTES = 7 // varint length, raw bytes
const T_ARRAY = 8 // varint count, values
const T_OBJECT = 9 // varint count, (key string, value) pairs
const T_BIGINT = 10 // varint length, its decimal digits (with a leading '-' when negative)
const T_UTF16 = 11 // a string with lone surrogates (not UTF-8 encodable): varint count, 2-byte LE code units
const T_NAME = 12 // one byte: the position of a string in NAMES (an object key or a string value)

/**
 * Strings that records repeat (the field names of internal requests, hard state and
 * snapshot metadata, and the enum values of compares and ranges), written as two bytes
 * ({@link T_NAME} and the position here) instead of their text: encoding and decoding a
 * put or a txn mostly handles these names. Append only: a record names a string by its
 * position, so an existing position must never change.
 */
const NAMES: readonly string[] = Object.freeze([
  // internal request envelope
  'header', 'memberId', 'id', 'username', 'authRevision',
  'put', 'deleteRange', 'txn', 'compaction', 'leaseGrant', 'leaseRevoke', 'auth', 'alarm', 'memberUpdate', 'leaseCheckpoint',
  // put, delete, range, txn
  'key', 'value', 'lease', 'prevKv', 'ignoreValue', 'ignoreLease', 'rangeEnd',
  'compare', 'success', 'failure', 'result', 'target', 'version', 'createRevision', 'modRevision',
  'requestPut', 'requestRange', 'requestDeleteRange', 'requestTxn',
  'limit', 'revision', 'sortOrder', 'sortTarget', 'serializable', 'keysOnly', 'countOnly',
  'minModRevision', 'maxModRevision', 'minCreateRevision', 'maxCreateRevision',
  // compaction, leases
  'physical', 'ttl', 'checkpoints', 'remainingTtl',
  // Raft hard state and snapshot metadata
  'term', 'vote', 'commit', 'index', 'confState', 'voters', 'learners', 'votersOutgoing', 'learnersNext', 'autoLeave',
  // enum values
  'EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL', 'VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE',
  'NONE', 'ASCEND', 'DESCEND', 'KEY',
])
assert(NAMES.length <= 256 && new Set(NAMES).size === NAMES.length, 'record names: at most 256, each once')
/** Position of each of {@link NAMES}. */
const NAME_AT: ReadonlyMap<string, number> = new Map(NAMES.map((n, i) => [n, i]))

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const legacyDecoder = new TextDecoder()

/** False when `s` holds a lone surrogate (String.prototype.isWellFormed, which ES2023 typings lack). */
function wellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xd800 || c > 0xdfff) continue
    if (c >= 0xdc00) return false
    const next = s.charCodeAt(i + 1)
    if (!(next >= 0xdc00 && next <= 0xdfff)) return false
    i++
  }
  return true
}

/** A growable output buffer; one is cached and reused between records. */
class Writer {
  buf: Uint8Array
  view: DataView
  pos = 0

  constructor(size: number) {
    this.buf = new Uint8Array(size)
    this.view = new DataView(this.buf.buffer)
  }

  ensure(extra: number): void {
    const need = this.pos + extra
    if (need <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < need) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  /** A non-negative safe integer as an LEB128 varint (capacity already ensured: 8 bytes). */
  varint(n: number): void {
    const buf = this.buf
    let pos = this.pos
    while (n > 0x7fffffff) {
      buf[pos++] = (n % 0x80) | 0x80
      n = Math.floor(n / 0x80)
    }
    while (n >= 0x80) {
      buf[pos++] = (n & 0x7f) | 0x80
      n >>>= 7
    }
    buf[pos++] = n
    this.pos = pos
  }

  tagged(tag: number, n: number): void {
    this.ensure(9)
    this.buf[this.pos++] = tag
    this.varint(n)
  }

  string(tag: number, s: string): void {
    const len = s.length
    let ascii = true
    for (let i = 0; i < len; i++) {
      if (s.charCodeAt(i) >= 0x80) {
        ascii = false
        break
      }
    }
    if (ascii) {
      this.tagged(tag, len)
      this.ensure(len)
      const buf = this.buf
      let pos = this.pos
      for (let i = 0; i < len; i++) buf[pos++] = s.charCodeAt(i)
      this.pos = pos
      return
    }
    if (tag === T_STRING && !wellFormed(s)) {
      // lone surrogates survive JSON; UTF-8 would replace them, so keep the code units
      this.tagged(T_UTF16, len)
      this.ensure(2 * len)
      for (let i = 0; i < len; i++) this.view.setUint16(this.pos + 2 * i, s.charCodeAt(i), true)
      this.pos += 2 * len
      return
    }
    this.bytes(tag, utf8.encode(s))
  }

  /** A string: by its position when it is one of {@link NAMES}, else its text. */
  text(s: string): void {
    const at = NAME_AT.get(s)
    if (at === undefined) return this.string(T_STRING, s)
    this.ensure(2)
    this.buf[this.pos++] = T_NAME
    this.buf[this.pos++] = at
  }

  bytes(tag: number, b: Uint8Array): void {
    this.tagged(tag, b.length)
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /** Writes `value` as JSON would see it; `false` when JSON would leave it out (undefined, function, symbol). */
  value(value: unknown, key: string | number): boolean {
    switch (typeof value) {
      case 'string':
        this.text(value)
        return true
      case 'number':
        if (Number.isSafeInteger(value)) {
          if (value >= 0) this.tagged(T_UINT, value)
          else this.tagged(T_NINT, -value)
        } else if (Number.isFinite(value)) {
          this.ensure(9)
          this.buf[this.pos++] = T_FLOAT
          this.view.setFloat64(this.pos, value, true)
          this.pos += 8
        } else this.tag(T_NULL)
        return true
      case 'boolean':
        this.tag(value ? T_TRUE : T_FALSE)
        return true
      case 'bigint':
        this.string(T_BIGINT, value.toString())
        return true
      case 'object':
        break
      default:
        return false // undefined, function, symbol
    }
    if (value === null) {
      this.tag(T_NULL)
      return true
    }
    if (value instanceof Uint8Array) {
      this.bytes(T_BYTES, value)
      return true
    }
    if (Array.isArray(value)) {
      this.tagged(T_ARRAY, value.length)
      for (let i = 0; i < value.length; i++) if (!this.value(value[i], i)) this.tag(T_NULL)
      return true
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON
    if (typeof toJSON === 'function') return this.value((toJSON as (k: string) => unknown).call(value, String(key)), key)
    const o = value as Record<string, unknown>
    const keys = Object.keys(o)
    // the count goes first: write the entries, then patch it in (entries JSON leaves out are not counted)
    // one byte when it surely fits, else a fixed 5-byte varint padded with continuation bytes
    const wide = keys.length >= 0x80
    this.ensure(1 + 5)
    this.buf[this.pos++] = T_OBJECT
    const countAt = this.pos
    this.pos += wide ? 5 : 1
    let count = 0
    for (const k of keys) {
      const mark = this.pos
      this.text(k)
      if (this.value(o[k], k)) count++
      else this.pos = mark
    }
    if (!wide) {
      this.buf[countAt] = count
      return true
    }
    let n = count
    for (let i = 0; i < 4; i++) {
      this.buf[countAt + i] = (n & 0x7f) | 0x80
      n >>>= 7
    }
    this.buf[countAt + 4] = n
    return true
  }

  tag(t: number): void {
    this.ensure(1)
    this.buf[this.pos++] = t
  }

  /** The body of a {@link PUT_RECORD_FORMAT} record: flags, then the fields in a fixed order. */
  putRequest(r: PlainPut): void {
    const { header: h, put: p } = r
    const flags =
      (h.username !== undefined ? PUT_USERNAME : 0) |
      (h.authRevision !== undefined ? PUT_AUTH_REVISION : 0) |
      (p.prevKv ? PUT_PREV_KV : 0) |
      (p.ignoreValue ? PUT_IGNORE_VALUE : 0) |
      (p.ignoreLease ? PUT_IGNORE_LEASE : 0)
    this.tag(flags)
    this.text(h.memberId)
    this.text(h.id)
    if (h.username !== undefined) this.text(h.username)
    if (h.authRevision !== undefined) this.tagged(T_UINT, h.authRevision)
    this.text(p.lease)
    this.bytes(T_BYTES, p.key)
    this.bytes(T_BYTES, p.value)
  }
}

let cachedWriter: Writer | undefined = new Writer(4096)

/**
 * Encodes a JSON-like value whose leaves may be `Uint8Array`s. With `pooled` the record is
 * a view of the shared byte pool (`allocBytes` of api/byte-pool): for a record that dies
 * young (a proposal, which the Raft log copies into its own chunk), never for one that is
 * stored.
 */
export function encodeRecord(value: unknown, pooled = false): Uint8Array {
  // a toJSON() that encodes a record itself must not share the cached writer
  const w = cachedWriter ?? new Writer(256)
  cachedWriter = undefined
  try {
    w.pos = 0
    if (fitsPutRecord(value)) {
      w.tag(PUT_RECORD_FORMAT)
      w.putRequest(value)
    } else {
      w.tag(RECORD_FORMAT)
      if (!w.value(value, '')) w.tag(T_NULL)
    }
    return pooled ? copyBytes(w.buf, 0, w.pos) : w.buf.slice(0, w.pos)
  } finally {
    // do not keep a huge buffer (a state dump) alive between records
    cachedWriter = w.buf.length <= 1 << 20 ? w : new Writer(4096)
  }
}

/** What an empty byte leaf decodes to: it has no bytes to change, and it is frozen. */
const NO_BYTES: Uint8Array = Object.freeze(new Uint8Array(0))

const INTERN_SLOTS = 512
/** Recently decoded short strings, by hash slot (a cache: a collision just replaces the entry). */
const interned: (string | undefined)[] = new Array(INTERN_SLOTS)

/** Thrown inside the decoder; turned into an {@link InvariantError} by {@link decodeRecord}. */
class Corrupt extends Error {}

class Reader {
  pos = 1
  readonly view: DataView

  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  varint(): number {
    const buf = this.buf
    let n = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      if (this.pos >= buf.length) throw new Corrupt('truncated varint')
      const b = buf[this.pos++]!
      n += (b & 0x7f) * scale
      if (b < 0x80) {
        if (n > Number.MAX_SAFE_INTEGER) throw new Corrupt('varint out of range')
        return n
      }
      scale *= 0x80
    }
    throw new Corrupt('varint too long')
  }

  length(): number {
    const n = this.varint()
    if (n > this.buf.length - this.pos) throw new Corrupt('length beyond the end')
    return n
  }

  string(): string {
    const len = this.length()
    const buf = this.buf
    const start = this.pos
    this.pos += len
    if (len <= 24) {
      // short ASCII strings (object keys, ids) are interned: records repeat the same few
      let h = len
      for (let i = start; i < start + len; i++) {
        const c = buf[i]!
        if (c >= 0x80) return strictUtf8.decode(buf.subarray(start, start + len))
        h = (Math.imul(h, 31) + c) | 0
      }
      const slot = h & (INTERN_SLOTS - 1)
      const hit = interned[slot]
      if (hit !== undefined && hit.length === len) {
        let same = true
        for (let i = 0; i < len; i++) {
          if (hit.charCodeAt(i) !== buf[start + i]) {
            same = false
            break
          }
        }
        if (same) return hit
      }
      let s = ''
      for (let i = start; i < start + len; i++) s += String.fromCharCode(buf[i]!)
      interned[slot] = s
      return s
    }
    return strictUtf8.decode(buf.subarray(start, start + len))
  }

  /** One of {@link NAMES}, by its position. */
  name(): string {
    if (this.pos >= this.buf.length) throw new Corrupt('truncated name')
    const n = NAMES[this.buf[this.pos++]!]
    if (n === undefined) throw new Corrupt('unknown name')
    return n
  }

  utf16(): string {
    const n = this.varint()
    if (2 * n > this.buf.length - this.pos) throw new Corrupt('length beyond the end')
    let s = ''
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.view.getUint16(this.pos + 2 * i, true))
    this.pos += 2 * n
    return s
  }

  /** A string value ({@link Writer.text}'s forms). */
  text(): string {
    const v = this.value()
    if (typeof v !== 'string') throw new Corrupt('expected a string')
    return v
  }

  /** A byte value. */
  bytes(): Uint8Array {
    const v = this.value()
    if (!(v instanceof Uint8Array)) throw new Corrupt('expected bytes')
    return v
  }

  /**
   * A byte leaf copied into an array from the shared pool (`allocBytes` of api/byte-pool):
   * for a put's key and value, which the store copies into its record and hands to
   * watchers, but never keeps.
   */
  pooledBytes(): Uint8Array {
    if (this.pos >= this.buf.length || this.buf[this.pos] !== T_BYTES) return this.bytes()
    this.pos++
    const len = this.length()
    if (len === 0) return NO_BYTES
    const out = copyBytes(this.buf, this.pos, len)
    this.pos += len
    return out
  }

  /** The body of a {@link PUT_RECORD_FORMAT} record, as the general form decodes the same request. */
  putRequest(): PlainPut {
    if (this.pos >= this.buf.length) throw new Corrupt('truncated put record')
    const flags = this.buf[this.pos++]!
    if (flags > 31) throw new Corrupt('unknown put record flags')
    const header: PlainPut['header'] = { memberId: this.text(), id: this.text() }
    if ((flags & PUT_USERNAME) !== 0) header.username = this.text()
    if ((flags & PUT_AUTH_REVISION) !== 0) {
      const v = this.value()
      if (typeof v !== 'number') throw new Corrupt('expected an integer')
      header.authRevision = v
    }
    const lease = this.text()
    const key = this.pooledBytes()
    const value = this.pooledBytes()
    return {
      header,
      put: {
        key,
        value,
        lease,
        prevKv: (flags & PUT_PREV_KV) !== 0,
        ignoreValue: (flags & PUT_IGNORE_VALUE) !== 0,
        ignoreLease: (flags & PUT_IGNORE_LEASE) !== 0,
      },
    }
  }

  value(): unknown {
    if (this.pos >= this.buf.length) throw new Corrupt('truncated value')
    const tag = this.buf[this.pos++]
    switch (tag) {
      case T_NULL:
        return null
      case T_FALSE:
        return false
      case T_TRUE:
        return true
      case T_UINT:
        return this.varint()
      case T_NINT: {
        const n = this.varint()
        if (n === 0) throw new Corrupt('negative zero integer')
        return -n
      }
      case T_FLOAT: {
        if (this.pos + 8 > this.buf.length) throw new Corrupt('truncated number')
        const f = this.view.getFloat64(this.pos, true)
        this.pos += 8
        return f
      }
      case T_STRING:
        return this.string()
      case T_NAME:
        return this.name()
      case T_UTF16:
        return this.utf16()
      case T_BYTES: {
        const len = this.length()
        // empty byte fields are common (a compare's rangeEnd and value): one shared, frozen array
        if (len === 0) return NO_BYTES
        const out = new Uint8Array(len)
        copyInto(out, 0, this.buf, this.pos, len)
        this.pos += len
        return out
      }
      case T_ARRAY: {
        const n = this.varint()
        if (n > this.buf.length - this.pos) throw new Corrupt('array longer than the record')
        const out: unknown[] = new Array(n)
        for (let i = 0; i < n; i++) out[i] = this.value()
        return out
      }
      case T_OBJECT: {
        const n = this.varint()
        if (n > this.buf.length - this.pos) throw new Corrupt('object longer than the record')
        const out: Record<string, unknown> = {}
        for (let i = 0; i < n; i++) {
          const kt = this.buf[this.pos++]
          if (kt !== T_STRING && kt !== T_UTF16 && kt !== T_NAME) throw new Corrupt('object key is not a string')
          const k = kt === T_NAME ? this.name() : kt === T_STRING ? this.string() : this.utf16()
          const v = this.value()
          // JSON.parse makes "__proto__" an own property; plain assignment would set the prototype
          if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true })
          else out[k] = v
        }
        return out
      }
      case T_BIGINT: {
        const s = this.string()
        if (!/^-?[0-9]+$/.test(s)) throw new Corrupt('malformed bigint')
        return BigInt(s)
      }
      default:
        throw new Corrupt(`unknown tag ${String(tag)}`)
    }
  }
}

const BYTES_TAG = '$b'

/** Reads a record written as JSON text by earlier versions (byte fields as `{"$b": "<one char per byte>"}`). */
function legacyReviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>
    const b = o[BYTES_TAG]
    if (typeof b === 'string' && Object.keys(o).length === 1) return fromBinaryString(b)
  }
  return value
}

/** Decodes what {@link encodeRecord} wrote. A record that does not decode is corruption ({@link InvariantError}). */
export function decodeRecord<T>(bytes: Uint8Array): T {
  try {
    const first = bytes[0]
    if (first === RECORD_FORMAT || first === PUT_RECORD_FORMAT) {
      const r = new Reader(bytes)
      const v = first === RECORD_FORMAT ? r.value() : r.putRequest()
      if (r.pos !== bytes.length) throw new Corrupt(`${bytes.length - r.pos} trailing bytes`)
      return v as T
    }
    if (first === 0x7b || first === 0x5b || first === 0x22) return JSON.parse(legacyDecoder.decode(bytes), legacyReviver) as T
    throw new Corrupt(first === undefined ? 'empty record' : `unknown record format ${first}`)
  } catch (err) {
    throw new InvariantError(`undecodable record (${bytes.length} bytes): ${err instanceof Error ? err.message : String(err)}`)
  }
}
