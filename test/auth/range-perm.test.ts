import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mergePermissions, rangePermitted } from '../../src/auth/range-perm.js'
import type { Permission } from '../../src/auth/auth-request.js'

const b = (s: string) => new TextEncoder().encode(s)
const perm = (permType: Permission['permType'], key: string, rangeEnd = ''): Permission => ({ permType, key: b(key), rangeEnd: rangeEnd === '\0' ? new Uint8Array([0]) : b(rangeEnd) })

test('range permissions: points, ranges, unions, from-key, and ranges straddling a grant edge', () => {
  const p = mergePermissions([perm('READ', 'a', 'c'), perm('READWRITE', 'c', 'e'), perm('WRITE', 'k'), perm('READ', 'x', '\0')])
  const cases: [string, string, 'read' | 'write', boolean][] = [
    ['a', '', 'read', true],
    ['b', '', 'read', true],
    ['c', '', 'read', true], // second grant
    ['e', '', 'read', false], // end is exclusive
    ['a', 'e', 'read', true], // union of [a,c) and [c,e)
    ['a', 'f', 'read', false], // straddles the edge
    ['0', 'b', 'read', false], // starts before the grant
    ['a', 'c', 'write', false],
    ['c', 'e', 'write', true],
    ['k', '', 'write', true],
    ['k', '', 'read', false],
    ['k', 'k\0', 'write', true], // the point as a range
    ['k', 'l', 'write', false],
    ['x', '\0', 'read', true],
    ['y', '\0', 'read', true],
    ['w', '\0', 'read', false],
    ['zzz', '', 'read', true],
  ]
  for (const [key, end, kind, want] of cases) {
    const re = end === '\0' ? new Uint8Array([0]) : b(end)
    assert.equal(rangePermitted(p[kind], b(key), re), want, `${kind} [${key}, ${JSON.stringify(end)})`)
  }
})
