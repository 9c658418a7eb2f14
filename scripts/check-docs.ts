/**
 * Extracts every ```ts code block of the README files, docs/ and the JSDoc
 * comments of the packages' sources into .docs-check/, so that `tsc`
 * type-checks them with the rest of the project: an example in the docs or in
 * an `@example` tag that does not compile fails `npm run check`, and an
 * example that is a test runs in `npm test` (the "docs" Vitest project).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
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

const sourceFiles = (): Array<string> => {
  const files: Array<string> = []
  const walk = (directory: string): void => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith(".ts")) files.push(path)
    }
  }
  for (const pkg of readdirSync(join(root, "packages"))) {
    const src = join(root, "packages", pkg, "src")
    if (existsSync(src)) walk(src)
  }
  return files.sort()
}

const codeBlocks = (text: string): Array<string> =>
  Array.from(text.matchAll(/^```(?:ts|typescript)\n([\s\S]*?)^```$/gm), (match) => match[1]!)

// The text of every JSDoc comment, with each line's leading ` * ` removed, so
// that the code blocks inside read as they would in a markdown file.
const jsDocComments = (source: string): Array<string> =>
  Array.from(source.matchAll(/\/\*\*([\s\S]*?)\*\//g), (match) =>
    match[1]!
      .split("\n")
      .map((line) => line.replace(/^\s*\* ?/, ""))
      .join("\n"))

// An example usually ends with the value it builds (`const program = ...`),
// which nothing reads: a line that reads every top-level declaration is
// appended, so that `noUnusedLocals` flags only what is really unused (an
// import, a local). An example's `export` is dropped: no block imports
// another, and an exported value would make `tsc` name its inferred type for a
// declaration file, which is not what the example is checked for.
const unexport = (code: string): string =>
  code.replace(/^export (?=(?:declare |async )?(?:const|let|function|class|enum) )/gm, "")

const readDeclarations = (code: string): string => {
  const values = Array.from(
    code.matchAll(/^(?:declare )?(?:async )?(?:const|let|function\*?|class|enum) (\w+)/gm),
    (match) => match[1]!
  )
  const types = Array.from(code.matchAll(/^(?:declare )?(?:type|interface) (\w+)/gm), (match) => match[1]!)
  return [
    values.length > 0 ? `void [${values.join(", ")}]` : "",
    types.length > 0 ? `export type { ${types.join(", ")} }` : ""
  ].filter((line) => line !== "").join("\n")
}

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
let blocks = 0
const extract = (file: string, codes: Array<string>): void => {
  const name = relative(root, file).replace(/[/\\.]/g, "_")
  codes.forEach((code, index) => {
    blocks++
    // Each block is its own module. Blocks that are tests (they use @effect/vitest)
    // are named *.test.ts, so the "docs" Vitest project runs them too.
    const isTest = code.includes("@effect/vitest") && /\b(it|describe)(\.\w+)*\(/.test(code)
    const module = unexport(code)
    writeFileSync(join(out, `${name}_${index + 1}${isTest ? ".test" : ""}.ts`), `${module}\n${readDeclarations(module)}\nexport {}\n`)
  })
}
for (const file of markdownFiles()) extract(file, codeBlocks(readFileSync(file, "utf8")))
const markdownBlocks = blocks
for (const file of sourceFiles()) {
  extract(file, jsDocComments(readFileSync(file, "utf8")).flatMap(codeBlocks))
}
console.log(
  `docs check: ${markdownBlocks} code blocks of the docs and ${blocks - markdownBlocks} of the JSDoc examples extracted to .docs-check/`
)
