// Every file in examples/ runs here, so none of them rots: each must exit 0.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

const dir = 'examples'
for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()) {
  test(`example ${file} runs`, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, file)], { encoding: 'utf8', timeout: 120_000 })
    assert.equal(r.status, 0, `${file} exited ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
    assert.match(r.stdout, /closed/, `${file} should close its store`)
  })
}
