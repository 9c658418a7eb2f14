/**
 * Prompt messages are converted to their wire form once they are sent again
 * (an agent sends its whole history at every step; see convertPrompt): the
 * request of every step must be what a fresh conversion of the same messages
 * gives, whatever was remembered from earlier steps.
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

// the same messages as new objects: nothing remembered about them
const fresh = (messages: ReadonlyArray<Prompt.Message>) =>
  Prompt.fromMessages(messages.map((message) => structuredClone(message) as Prompt.Message))

describe("message conversion", () => {
  for (const [api, convert] of [["chat", Chat.messages], ["responses", Responses.input]] as const) {
    it(`${api}: every request of a growing history is what a fresh conversion gives`, () => {
      const steps = [[system, user], [system, user, call], [system, user, call, result], [system, user, call, result, call]]
      for (const [i, messages] of steps.entries()) {
        const role = i % 2 === 0 ? "system" : "developer"
        assert.deepStrictEqual(convert(Prompt.fromMessages(messages), role), convert(fresh(messages), role))
      }
      // the system role follows the settings of each request
      assert.deepStrictEqual(convert(Prompt.fromMessages([system, user]), "system")[0], { role: "system", content: "Be brief." })
      assert.deepStrictEqual(convert(Prompt.fromMessages([system, user]), "developer")[0], { role: "developer", content: "Be brief." })
      assert.strictEqual(convert(Prompt.fromMessages([system, user, call, result]), "system").length, 4)
    })
  }
})
