/**
 * An ordered map on a B+tree: values live in linked leaves, internal nodes hold separator
 * keys. It backs the key index (etcd uses google/btree), and stays fast for millions of
 * keys because nodes are wide arrays and ordered walks follow the leaf links.
 *
 * @module
 */

import { assert } from '../errors.js'

/** Orders keys; negative when `a` comes first. */
export type Comparator<K> = (a: K, b: K) => number

/** Orders strings by UTF-16 code units, which for binary strings is etcd's byte order. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

const DEFAULT_ORDER = 64

class Leaf<K, V> {
  keys: K[]
  values: V[]
  next: Leaf<K, V> | undefined
  constructor(keys: K[], values: V[], next?: Leaf<K, V>) {
    this.keys = keys
    this.values = values
    this.next = next
  }
}

/**
 * Separators: every key under `children[i]` is < `keys[i]` <= every key under
 * `children[i + 1]`; `keys.length === children.length - 1`.
 */
class Internal<K, V> {
  keys: K[]
  children: Node<K, V>[]
  constructor(keys: K[], children: Node<K, V>[]) {
    this.keys = keys
    this.children = children
  }
}

type Node<K, V> = Leaf<K, V> | Internal<K, V>

/**
 * An ordered map from `K` to `V`. Mutating the tree while a walk ({@link BTree.ascend},
 * {@link BTree.entries}) is under way is not supported: collect, then mutate.
 */
export class BTree<K, V> {
  readonly #compare: Comparator<K>
  readonly #max: number
  readonly #min: number
  #root: Node<K, V> = new Leaf<K, V>([], [])
  #size = 0
  #found: V | undefined

  /** `order` is the most entries (leaves) or children (internal nodes) a node holds. */
  constructor(compare: Comparator<K>, order = DEFAULT_ORDER) {
    assert(order >= 4, 'a B+tree order is at least 4')
    this.#compare = compare
    this.#max = order
    this.#min = order >> 1
  }

  /** Number of entries. */
  get size(): number {
    return this.#size
  }

  /** The value stored under `key`, if any. */
  get(key: K): V | undefined {
    const leaf = this.#findLeaf(key)
    const i = this.#lowerBound(leaf.keys, key)
    return i < leaf.keys.length && this.#compare(leaf.keys[i]!, key) === 0 ? leaf.values[i] : undefined
  }

  /** True when `key` is present. */
  has(key: K): boolean {
    const leaf = this.#findLeaf(key)
    const i = this.#lowerBound(leaf.keys, key)
    return i < leaf.keys.length && this.#compare(leaf.keys[i]!, key) === 0
  }

  /** Stores `value` under `key`, replacing what was there; returns true when `key` is new. */
  set(key: K, value: V): boolean {
    const before = this.#size
    this.#upsert(key, () => value, true)
    return this.#size !== before
  }

  /** The value under `key`; when absent, stores and returns `create(key)`. One descent either way. */
  getOrInsert(key: K, create: (key: K) => V): V {
    return this.#upsert(key, create, false)
  }

  /** Removes `key`; returns true when it was present. */
  delete(key: K): boolean {
    const removed = this.#remove(this.#root, key)
    if (removed && this.#root instanceof Internal && this.#root.children.length === 1) {
      this.#root = this.#root.children[0]!
    }
    return removed
  }

  /** Removes every entry. */
  clear(): void {
    this.#root = new Leaf<K, V>([], [])
    this.#size = 0
  }

  /**
   * Calls `visit` for each entry with key >= `from` (every entry when `from` is
   * `undefined`), ascending, until it returns false.
   */
  ascend(from: K | undefined, visit: (key: K, value: V) => boolean | void): void {
    const start = this.#start(from)
    let leaf: Leaf<K, V> | undefined = start.leaf
    let i = start.i
    while (leaf !== undefined) {
      const { keys, values } = leaf
      for (; i < keys.length; i++) {
        if (visit(keys[i]!, values[i]!) === false) return
      }
      leaf = leaf.next
      i = 0
    }
  }

  /** Where an ascending walk from `from` (the first entry when `undefined`) begins: a leaf and a position in it. */
  #start(from: K | undefined): { leaf: Leaf<K, V>; i: number } {
    if (from === undefined) {
      let node = this.#root
      while (node instanceof Internal) node = node.children[0]!
      return { leaf: node, i: 0 }
    }
    const leaf = this.#findLeaf(from)
    return { leaf, i: this.#lowerBound(leaf.keys, from) }
  }

  /** The entries with key >= `from` (all when `undefined`), ascending. */
  *entries(from?: K): IterableIterator<[K, V]> {
    const out: [K, V][] = []
    // Collected per leaf so a generator never holds a position across user code for long.
    const start = this.#start(from)
    let leaf: Leaf<K, V> | undefined = start.leaf
    let i = start.i
    while (leaf !== undefined) {
      out.length = 0
      for (; i < leaf.keys.length; i++) out.push([leaf.keys[i]!, leaf.values[i]!])
      leaf = leaf.next
      i = 0
      yield* out
    }
  }

  /** Checks the structural invariants (ordering, fill, depth, links, size); for tests. */
  check(): void {
    let count = 0
    let prev: K | undefined
    let leafDepth = -1
    const walk = (node: Node<K, V>, depth: number, lo: K | undefined, hi: K | undefined, isRoot: boolean): void => {
      if (node instanceof Leaf) {
        assert(node.keys.length === node.values.length, 'leaf keys and values differ in length')
        assert(isRoot || node.keys.length >= this.#min, 'leaf underfull')
        assert(node.keys.length <= this.#max, 'leaf overfull')
        if (leafDepth === -1) leafDepth = depth
        assert(leafDepth === depth, 'leaves at different depths')
        for (const k of node.keys) {
          assert(prev === undefined || this.#compare(prev, k) < 0, 'keys out of order')
          assert(lo === undefined || this.#compare(lo, k) <= 0, 'key below its separator')
          assert(hi === undefined || this.#compare(k, hi) < 0, 'key at or above its separator')
          prev = k
          count++
        }
        return
      }
      assert(node.keys.length === node.children.length - 1, 'separators and children differ')
      assert(isRoot ? node.children.length >= 2 : node.children.length >= this.#min, 'internal node underfull')
      assert(node.children.length <= this.#max, 'internal node overfull')
      node.children.forEach((c, i) => walk(c, depth + 1, i === 0 ? lo : node.keys[i - 1], i === node.keys.length ? hi : node.keys[i], false))
    }
    walk(this.#root, 0, undefined, undefined, true)
    assert(count === this.#size, `size ${this.#size} but ${count} entries`)
    let linked = 0
    this.ascend(undefined, () => {
      linked++
    })
    assert(linked === count, 'leaf links skip entries')
  }

  #findLeaf(key: K): Leaf<K, V> {
    let node = this.#root
    while (node instanceof Internal) node = node.children[this.#childIndex(node.keys, key)]!
    return node
  }

  /** First index whose key is >= `key`. */
  #lowerBound(keys: K[], key: K): number {
    let lo = 0
    let hi = keys.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.#compare(keys[mid]!, key) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** The child of an internal node that covers `key`: the number of separators <= `key`. */
  #childIndex(keys: K[], key: K): number {
    let lo = 0
    let hi = keys.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.#compare(keys[mid]!, key) <= 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  #upsert(key: K, make: (key: K) => V, replace: boolean): V {
    const split = this.#insert(this.#root, key, make, replace)
    if (split !== undefined) this.#root = new Internal([split.separator], [this.#root, split.right])
    const v = this.#found as V
    this.#found = undefined
    return v
  }

  /** Inserts into the subtree under `node`; leaves the entry's value in `#found`; returns a split for the parent. */
  #insert(node: Node<K, V>, key: K, make: (key: K) => V, replace: boolean): { separator: K; right: Node<K, V> } | undefined {
    if (node instanceof Leaf) {
      const i = this.#lowerBound(node.keys, key)
      if (i < node.keys.length && this.#compare(node.keys[i]!, key) === 0) {
        this.#found = replace ? (node.values[i] = make(key)) : node.values[i]!
        return undefined
      }
      const value = make(key)
      this.#found = value
      node.keys.splice(i, 0, key)
      node.values.splice(i, 0, value)
      this.#size++
      if (node.keys.length <= this.#max) return undefined
      const half = node.keys.length >> 1
      const right = new Leaf(node.keys.splice(half), node.values.splice(half), node.next)
      node.next = right
      return { separator: right.keys[0]!, right }
    }
    const ci = this.#childIndex(node.keys, key)
    const split = this.#insert(node.children[ci]!, key, make, replace)
    if (split === undefined) return undefined
    node.keys.splice(ci, 0, split.separator)
    node.children.splice(ci + 1, 0, split.right)
    if (node.children.length <= this.#max) return undefined
    const half = node.children.length >> 1
    const rightChildren = node.children.splice(half)
    const rightKeys = node.keys.splice(half)
    const separator = node.keys.pop()!
    return { separator, right: new Internal(rightKeys, rightChildren) }
  }

  #remove(node: Node<K, V>, key: K): boolean {
    if (node instanceof Leaf) {
      const i = this.#lowerBound(node.keys, key)
      if (i >= node.keys.length || this.#compare(node.keys[i]!, key) !== 0) return false
      node.keys.splice(i, 1)
      node.values.splice(i, 1)
      this.#size--
      return true
    }
    const ci = this.#childIndex(node.keys, key)
    const child = node.children[ci]!
    if (!this.#remove(child, key)) return false
    const fill = child instanceof Leaf ? child.keys.length : child.children.length
    if (fill < this.#min) this.#rebalance(node, ci)
    return true
  }

  /** Refills the underfull `parent.children[ci]` from a sibling, or merges it with one. */
  #rebalance(parent: Internal<K, V>, ci: number): void {
    const child = parent.children[ci]!
    const left = ci > 0 ? parent.children[ci - 1] : undefined
    const right = ci < parent.children.length - 1 ? parent.children[ci + 1] : undefined
    if (child instanceof Leaf) {
      const l = left as Leaf<K, V> | undefined
      const r = right as Leaf<K, V> | undefined
      if (l !== undefined && l.keys.length > this.#min) {
        child.keys.unshift(l.keys.pop()!)
        child.values.unshift(l.values.pop()!)
        parent.keys[ci - 1] = child.keys[0]!
      } else if (r !== undefined && r.keys.length > this.#min) {
        child.keys.push(r.keys.shift()!)
        child.values.push(r.values.shift()!)
        parent.keys[ci] = r.keys[0]!
      } else if (l !== undefined) {
        this.#mergeLeaves(parent, ci - 1, l, child)
      } else if (r !== undefined) {
        this.#mergeLeaves(parent, ci, child, r)
      }
      return
    }
    const node = child as Internal<K, V>
    const l = left as Internal<K, V> | undefined
    const r = right as Internal<K, V> | undefined
    if (l !== undefined && l.children.length > this.#min) {
      node.keys.unshift(parent.keys[ci - 1]!)
      node.children.unshift(l.children.pop()!)
      parent.keys[ci - 1] = l.keys.pop()!
    } else if (r !== undefined && r.children.length > this.#min) {
      node.keys.push(parent.keys[ci]!)
      node.children.push(r.children.shift()!)
      parent.keys[ci] = r.keys.shift()!
    } else if (l !== undefined) {
      this.#mergeInternals(parent, ci - 1, l, node)
    } else if (r !== undefined) {
      this.#mergeInternals(parent, ci, node, r)
    }
  }

  #mergeLeaves(parent: Internal<K, V>, li: number, l: Leaf<K, V>, r: Leaf<K, V>): void {
    for (let i = 0; i < r.keys.length; i++) {
      l.keys.push(r.keys[i]!)
      l.values.push(r.values[i]!)
    }
    l.next = r.next
    parent.keys.splice(li, 1)
    parent.children.splice(li + 1, 1)
  }

  #mergeInternals(parent: Internal<K, V>, li: number, l: Internal<K, V>, r: Internal<K, V>): void {
    l.keys.push(parent.keys[li]!, ...r.keys)
    l.children.push(...r.children)
    parent.keys.splice(li, 1)
    parent.children.splice(li + 1, 1)
  }
}
