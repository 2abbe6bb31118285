/** mulberry32: a tiny seeded PRNG so every randomized raft test replays from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** An integer generator in [0, n) over mulberry32, the shape raft's Config.random wants. */
export function intRandom(seed: number): (n: number) => number {
  const next = mulberry32(seed)
  return (n: number) => Math.floor(next() * n)
}
