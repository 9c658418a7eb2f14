/**
 * A prompt message is converted to its wire form once: an agent sends its
 * whole history again at every step, and each step should only pay for the
 * messages it added (the request stays the same as a fresh conversion).
 */
import { assert, describe, it } from "@effect/vitest"
import { Prompt } from "effect/ai"
import * as Chat from "../src/internal/chat.ts"
import * as Responses from "../src/internal/responses.ts"

const user = Prompt.userMessage({ content: [Prompt.textPart({ text: "Where is A-1?" })] })
const call = Prompt.assistantMessage({
  content: [Prompt.toolCallPart({ id: "c1", name: "lookup", params: { id: "A-1" }, providerExecuted: false })]
})
const result = Prompt.toolMessage({
  content: [Prompt.toolResultPart({ id: "c1", name: "lookup", isFailure: false, result: { status: "shipped" }, providerExecuted: false })]
})
const system = Prompt.systemMessage({ content: "Be brief." })

describe("message conversion", () => {
  for (const [api, convert] of [["chat", Chat.messages], ["responses", Responses.input]] as const) {
    it(`${api}: a growing history reuses the entries of the messages already converted`, () => {
      const first = convert(Prompt.fromMessages([system, user, call]), "system")
      const second = convert(Prompt.fromMessages([system, user, call, result]), "developer")
      // the same entries (converted once), the same request as a fresh conversion
      assert.strictEqual(second[1], first[1])
      assert.strictEqual(second[2], first[2])
      assert.deepStrictEqual(second.slice(0, 3).slice(1), first.slice(1))
      // the system role follows the settings of each request
      assert.deepStrictEqual(first[0], { role: "system", content: "Be brief." })
      assert.deepStrictEqual(second[0], { role: "developer", content: "Be brief." })
      assert.strictEqual(second.length, 4)
    })
  }
})
