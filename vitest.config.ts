import { defineConfig } from "vitest/config"
import { projects } from "./vitest.workspace.ts"

export default defineConfig({
  test: {
    projects,
    // a package whose tests are not written yet, or docs without test blocks
    passWithNoTests: true
  }
})
