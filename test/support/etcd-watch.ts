/**
 * etcd 3.4's Watch through its JSON gateway (`POST /v3/watch`): one create request per
 * HTTP stream, responses as newline-delimited `{"result": {...}}` objects, decoded into
 * pocket-etcd's normalized {@link WatchResponse} with every default filled.
 *
 * @module
 */
import type { KeyValue, WatchCreateRequest, WatchEvent, WatchResponse } from '../../src/api/messages.js'

type Json = { [field: string]: unknown }

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')
const bytes = (v: unknown): Uint8Array => (typeof v === 'string' ? new Uint8Array(Buffer.from(v, 'base64')) : new Uint8Array(0))
const num = (v: unknown): number => (v === undefined || v === null ? 0 : Number(v))
const id = (v: unknown): string => (v === undefined || v === null ? '0' : BigInt(v as string).toString())

function kv(v: unknown): KeyValue {
  const o = (v ?? {}) as Json
  return { key: bytes(o.key), createRevision: num(o.create_revision), modRevision: num(o.mod_revision), version: num(o.version), value: bytes(o.value), lease: id(o.lease) }
}

function event(v: unknown): WatchEvent {
  const o = v as Json
  const e: WatchEvent = { type: o.type === 'DELETE' ? 'DELETE' : 'PUT', kv: kv(o.kv) }
  if (o.prev_kv !== undefined) e.prevKv = kv(o.prev_kv)
  return e
}

/** Decodes one gateway watch result. */
export function decodeWatchResponse(v: unknown): WatchResponse {
  const o = v as Json
  const h = (o.header ?? {}) as Json
  return {
    header: { clusterId: id(h.cluster_id), memberId: id(h.member_id), revision: num(h.revision), raftTerm: num(h.raft_term) },
    watchId: id(o.watch_id),
    created: o.created === true,
    canceled: o.canceled === true,
    compactRevision: num(o.compact_revision),
    cancelReason: typeof o.cancel_reason === 'string' ? o.cancel_reason : '',
    fragment: o.fragment === true,
    events: Array.isArray(o.events) ? o.events.map(event) : [],
  }
}

/** An open gateway watch: `next()` gives responses in order (`undefined` once the stream ended); `close()` aborts it. */
export interface GatewayWatch {
  next(): Promise<WatchResponse | undefined>
  close(): void
}

/** Opens a watch on etcd's gateway with a normalized create request; `token` is sent as the `Authorization` header. */
export async function gatewayWatch(clientUrl: string, r: WatchCreateRequest, token?: string): Promise<GatewayWatch> {
  const body: Json = { key: b64(r.key) }
  if (r.rangeEnd.length > 0) body.range_end = b64(r.rangeEnd)
  if (r.startRevision !== 0) body.start_revision = String(r.startRevision)
  if (r.progressNotify) body.progress_notify = true
  if (r.filters.length > 0) body.filters = r.filters
  if (r.prevKv) body.prev_kv = true
  if (r.watchId !== '0') body.watch_id = r.watchId
  const ac = new AbortController()
  const headers: Record<string, string> = token === undefined ? {} : { authorization: token }
  const res = await fetch(`${clientUrl}/v3/watch`, { method: 'POST', headers, body: JSON.stringify({ create_request: body }), signal: ac.signal })
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  const ready: WatchResponse[] = []
  let ended = false
  return {
    async next() {
      for (;;) {
        const r0 = ready.shift()
        if (r0 !== undefined) return r0
        if (ended) return undefined
        let chunk: Awaited<ReturnType<typeof reader.read>>
        try {
          chunk = await reader.read()
        } catch {
          // aborted by close(): the stream is over
          ended = true
          continue
        }
        if (chunk.done) ended = true
        else buffered += decoder.decode(chunk.value, { stream: true })
        let nl: number
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim()
          buffered = buffered.slice(nl + 1)
          if (line === '') continue
          const parsed = JSON.parse(line) as Json
          if (parsed.error !== undefined) throw new Error(`etcd gateway watch: ${JSON.stringify(parsed.error)}`)
          ready.push(decodeWatchResponse(parsed.result))
        }
        if (ended && buffered.trim() !== '') {
          ready.push(decodeWatchResponse((JSON.parse(buffered) as Json).result))
          buffered = ''
        }
      }
    },
    close() {
      ac.abort()
    },
  }
}
