/**
 * Tool results that cannot be sent as JSON, through the real OpenAI provider
 * (the SDK over HTTP to FakeOpenAiServer on 127.0.0.1): the model gets the
 * tool's error result, and no request is ever retried for it.
 */
import { Agent } from "@effect-harness/core"
import { FakeOpenAiServer, VirtualTime } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { modelLayer } from "./support/env.ts"

const Inspect = Tool.make("inspect", {
  description: "Inspects a record",
  parameters: Schema.Struct({ id: Schema.String }),
  success: Schema.Unknown
})
const Inspector = Toolkit.make(Inspect)
const agent = Agent.make({ name: "inspector", toolkit: Inspector })

const circular = () => {
  const record: Record<string, unknown> = { id: "r1" }
  record.self = record
  return record
}

const results = {
  "a circular object": circular,
  "a BigInt under Schema.Unknown": () => BigInt(42),
  "a BigInt deep inside plain data": () => ({ id: "r1", sizes: [{ bytes: BigInt(42) }] })
} as const

// what the provider sent as the tool's output, on either API
const toolOutput = (body: any): string =>
  body.messages !== undefined
    ? body.messages.find((message: any) => message.role === "tool").content
    : body.input.find((item: any) => item.type === "function_call_output").output

for (const api of ["chat", "responses"] as const) {
  const answer = api === "chat" ? FakeOpenAiServer.chatCompletion : FakeOpenAiServer.response

  describe(`a tool result that cannot be encoded (${api})`, () => {
    for (const [label, make] of Object.entries(results)) {
      it.effect(`${label}: the model reads an InvalidResult error result; exactly 2 requests, none retried`, () =>
        Effect.gen(function*() {
          const server = yield* FakeOpenAiServer.FakeOpenAiServer
          yield* server.enqueue(
            answer({ toolCalls: [{ id: "call_1", name: "inspect", arguments: { id: "r1" } }] }),
            answer({ text: "The record could not be read." })
          )
          const result = yield* VirtualTime.run(agent.runDetailed("Inspect r1"))
          assert.strictEqual(result.output, "The record could not be read.")
          assert.deepStrictEqual(result.steps[0]!.toolCalls.map((call) => [call.isFailure, (call.result as any).error]), [
            [true, "InvalidResult"]
          ])
          const requests = yield* server.requests
          assert.strictEqual(requests.length, 2)
          const output = JSON.parse(toolOutput(requests[1]!.body))
          assert.strictEqual(output.error, "InvalidResult")
          assert.include(output.message, "inspect")
        }).pipe(Effect.provide(Layer.merge(
          modelLayer({ model: "gpt-4o-mini", api } as const),
          Inspector.toLayer({ inspect: () => Effect.succeed(make()) })
        ))))
    }
  })
}
