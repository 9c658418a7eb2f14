/**
 * One empty, frozen `options` object shared by the prompt parts and messages
 * the library builds: effect's constructors give each part and message a
 * fresh `{}` otherwise, about a tenth of what an agent run holds in memory
 * (packages/bench/src/scale.ts, heap per in-flight run).
 *
 * @internal
 */
import type { Prompt } from "effect/ai"

export const noOptions: Prompt.ProviderOptions = Object.freeze({})
