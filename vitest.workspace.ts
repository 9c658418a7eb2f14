/**
 * The list of test projects: one per package, each labelled with its package
 * name. `vitest.config.ts` reads it, since Vitest 5 only looks at
 * `test.projects`.
 */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import type { TestProjectInlineConfiguration } from "vitest/config"

const packages = ["core", "testing", "openai", "sql", "workflow", "examples", "bench"] as const

const root = (path: string) => fileURLToPath(new URL(path, import.meta.url))

// Tests run against the sources of sibling packages, not their build output:
// a package's main entry is its src/index.ts, a subpath (such as
// @effect-harness/testing/RunStoreSuite) the module of that name in its src/.
const alias = [
  // core's error classes have a subpath of their own (a portable name for
  // declarations that mention them): its module is in a domain folder
  { find: /^@effect-harness\/core\/HarnessError$/, replacement: root("./packages/core/src/harness/HarnessError.ts") },
  ...["core", "testing", "openai", "sql", "workflow"].flatMap((name) => [
    { find: new RegExp(`^@effect-harness/${name}$`), replacement: root(`./packages/${name}/src/index.ts`) },
    { find: new RegExp(`^@effect-harness/${name}/(\\w+)$`), replacement: root(`./packages/${name}/src/$1.ts`) }
  ])
]

export const projects: Array<TestProjectInlineConfiguration> = packages.map((name) => ({
  resolve: { alias },
  test: {
    name,
    root: root(`./packages/${name}`),
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000
  }
}))

// The code blocks of the docs that are tests, extracted by scripts/check-docs.ts
// (`npm test` runs it first). On a fresh clone nothing is extracted yet: the
// project is left out, so that one test file still runs on its own.
if (existsSync(root("./.docs-check"))) {
  projects.push({
    resolve: { alias },
    test: { name: "docs", root: root("./.docs-check"), include: ["**/*.test.ts"] }
  })
}

export default projects
