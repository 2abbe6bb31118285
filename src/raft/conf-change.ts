/**
 * The byte encoding of a {@link ConfChange} inside a `ConfChange` log entry, so the member can
 * decode committed membership changes and hand them back to `applyConfChange`.
 *
 * @module
 */
import { RaftError } from './raft-error.js'
import type { ConfChange, ConfChangeType } from './types.js'

const TYPES: readonly ConfChangeType[] = ['AddNode', 'AddLearnerNode', 'RemoveNode']

/** Encodes a conf change as: type byte, id length byte, id (ASCII digits), context bytes. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  if (!/^[0-9]{1,20}$/.test(cc.nodeId)) throw new RaftError('ErrInvalidConfChange', `bad node id ${cc.nodeId}`)
  const out = new Uint8Array(2 + cc.nodeId.length + cc.context.byteLength)
  out[0] = TYPES.indexOf(cc.type)
  out[1] = cc.nodeId.length
  for (let i = 0; i < cc.nodeId.length; i++) out[2 + i] = cc.nodeId.charCodeAt(i)
  out.set(cc.context, 2 + cc.nodeId.length)
  return out
}

/** Decodes what {@link encodeConfChange} produced; throws `ErrInvalidConfChange` on garbage. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const type = TYPES[data[0] ?? 255]
  const len = data[1] ?? 0
  if (type === undefined || len === 0 || data.byteLength < 2 + len) throw new RaftError('ErrInvalidConfChange', 'undecodable')
  let nodeId = ''
  for (let i = 0; i < len; i++) nodeId += String.fromCharCode(data[2 + i] as number)
  return { type, nodeId, context: data.slice(2 + len) }
}
