/**
 * zod schema of the Watch service's create request: what a caller may pass and the
 * normalized etcd message it parses into. A request that does not parse creates nothing.
 *
 * @module
 */
import { z } from 'zod'
import type { WatchCreateRequest } from '../api/messages.js'
import { EMPTY, toBytes } from '../api/bytes.js'
import { bytesInput, idInput, normalizeId } from './kv-schema.js'

const bytesField = bytesInput.optional().transform((v): Uint8Array => (v === undefined ? EMPTY : toBytes(v)))
const int = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer')
const boolField = z.boolean().optional().transform((v) => v ?? false)

/** WatchCreateRequest as a caller writes it (etcd accepts an empty key: it watches the key `"\0"`). */
export const watchCreateRequestSchema = z.strictObject({
  key: bytesField,
  rangeEnd: bytesField,
  startRevision: int.optional().transform((v) => v ?? 0),
  progressNotify: boolField,
  filters: z
    .array(z.enum(['NOPUT', 'NODELETE']))
    .optional()
    .transform((v) => v ?? []),
  prevKv: boolField,
  watchId: idInput.optional().transform((v) => (v === undefined ? '0' : normalizeId(v))),
  fragment: boolField,
}) satisfies z.ZodType<WatchCreateRequest, unknown>
