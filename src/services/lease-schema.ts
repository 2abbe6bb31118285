/**
 * zod schemas for the Lease service's requests: ids as decimal strings, safe integers or
 * bigints (normalized to decimal strings), TTLs as safe integers. Parsing happens once, here
 * at the boundary; a request that does not parse changes nothing.
 *
 * @module
 */
import { z } from 'zod'
import type { LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest } from '../api/messages.js'
import { idInput, normalizeId } from './kv-schema.js'

const int = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer')
const id = idInput.transform((v) => normalizeId(v))

/** LeaseGrantRequest as a caller writes it: `id` omitted or 0 lets the server choose. */
export const leaseGrantRequestSchema = z.strictObject({
  ttl: int,
  id: idInput.optional().transform((v) => (v === undefined ? '0' : normalizeId(v))),
}) satisfies z.ZodType<LeaseGrantRequest, unknown>

/** LeaseRevokeRequest as a caller writes it. */
export const leaseRevokeRequestSchema = z.strictObject({ id }) satisfies z.ZodType<LeaseRevokeRequest, unknown>

/** LeaseKeepAliveRequest as a caller writes it. */
export const leaseKeepAliveRequestSchema = z.strictObject({ id }) satisfies z.ZodType<LeaseKeepAliveRequest, unknown>

/** LeaseTimeToLiveRequest as a caller writes it. */
export const leaseTimeToLiveRequestSchema = z.strictObject({
  id,
  keys: z.boolean().optional().transform((v) => v ?? false),
}) satisfies z.ZodType<LeaseTimeToLiveRequest, unknown>

/** LeaseLeasesRequest: empty. */
export const leaseLeasesRequestSchema = z.strictObject({}).optional()

/** LeaseGrantRequest input type. */
export type LeaseGrantRequestInput = z.input<typeof leaseGrantRequestSchema>
/** LeaseTimeToLiveRequest input type. */
export type LeaseTimeToLiveRequestInput = z.input<typeof leaseTimeToLiveRequestSchema>
