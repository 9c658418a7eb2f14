/**
 * Where the shared recorded fixtures are: `EFFECT_HARNESS_FIXTURES` when set,
 * else `../shared/fixtures` next to the repository (where they live on the
 * project's machines), else `/work/shared/fixtures` (a clone made elsewhere on
 * such a machine). Tests read the fixtures in place; they are never copied.
 */
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"

const candidates = [
  process.env.EFFECT_HARNESS_FIXTURES,
  resolve(import.meta.dirname, "../../shared/fixtures"),
  "/work/shared/fixtures"
].filter((dir): dir is string => dir !== undefined && dir.length > 0)

export const fixturesRoot: string = candidates.find((dir) => existsSync(dir)) ?? candidates[0]!

export const openaiRecorded: string = join(fixturesRoot, "openai-recorded")

export const tauAirline: string = join(fixturesRoot, "tau-airline")
