/**
 * Extracts every ```ts code block of the README files and docs/ into
 * .docs-check/, so that `tsc` type-checks them with the rest of the project:
 * an example in the docs that does not compile fails `npm run check`, and an
 * example that is a test runs in `npm test` (the "docs" Vitest project).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs"
import { join, relative } from "node:path"

const root = join(import.meta.dirname, "..")
const out = join(root, ".docs-check")

const markdownFiles = (): Array<string> => {
  const files = [join(root, "README.md")]
  const docs = join(root, "docs")
  if (existsSync(docs)) {
    for (const name of readdirSync(docs)) if (name.endsWith(".md")) files.push(join(docs, name))
  }
  for (const pkg of readdirSync(join(root, "packages"))) files.push(join(root, "packages", pkg, "README.md"))
  return files.filter((file) => existsSync(file))
}

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
let blocks = 0
for (const file of markdownFiles()) {
  const text = readFileSync(file, "utf8")
  const name = relative(root, file).replace(/[/\\.]/g, "_")
  let index = 0
  for (const match of text.matchAll(/^```(ts|typescript)\n([\s\S]*?)^```$/gm)) {
    index++
    blocks++
    const code = match[2]!
    // Each block is its own module. Blocks that are tests (they use @effect/vitest)
    // are named *.test.ts, so the "docs" Vitest project runs them too.
    const isTest = code.includes("@effect/vitest") && /\b(it|describe)(\.\w+)*\(/.test(code)
    writeFileSync(join(out, `${name}_${index}${isTest ? ".test" : ""}.ts`), `${code}\nexport {}\n`)
  }
}
console.log(`docs check: ${blocks} code blocks extracted to .docs-check/`)
