/**
 * What the layer builds from effect values that the recorded traffic does not
 * exercise: tools defined with effect Schemas (resolved by a real toolkit),
 * strict mode, tool choice, images from bytes, structured output through
 * `generateObject`, reasoning items carried into the next turn, streamed tool
 * calls, usage details, built-in tools.
 */
import { HarnessError } from "@effect-harness/core"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Stream } from "effect"
import { LanguageModel, Prompt, ResponseIdTracker, Tool, Toolkit } from "effect/ai"
import { modelLayer } from "./support/env.ts"

const GetWeather = Tool.make("get_weather", {
  description: "The weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.String
})
const GetTime = Tool.make("get_time", { parameters: Schema.Struct({ zone: Schema.String }), success: Schema.String })
const Tools = Toolkit.make(GetWeather, GetTime)
const ToolsLive = Tools.toLayer({
  get_weather: ({ city }) => Effect.succeed(`sunny in ${city}`),
  get_time: ({ zone }) => Effect.succeed(`noon in ${zone}`)
})

/** Generates with a toolkit that only declares its tools (tool-call resolution off). */
const generateDeclared = (prompt: string, ...tools: ReadonlyArray<Tool.Any>) =>
  LanguageModel.generateText({
    prompt,
    toolkit: {
      tools: Object.fromEntries(tools.map((tool) => [tool.name, tool])),
      handle: () => Effect.die("not called")
    } as unknown as Toolkit.WithHandler<{}>,
    disableToolCallResolution: true
  })

const lastBody = Effect.map(
  Effect.flatMap(Effect.service(FakeOpenAiServer.FakeOpenAiServer), (server) => server.requests),
  (requests) => requests.at(-1)!.body as any
)

const enqueue = (...replies: ReadonlyArray<FakeOpenAiServer.Reply>) =>
  Effect.flatMap(Effect.service(FakeOpenAiServer.FakeOpenAiServer), (server) => server.enqueue(...replies))

for (const api of ["chat", "responses"] as const) {
  const layer = modelLayer({ model: "gpt-4o-mini", api } as const)
  const answer = api === "chat" ? FakeOpenAiServer.chatCompletion : FakeOpenAiServer.response
  const streamed = api === "chat" ? FakeOpenAiServer.chatCompletionStream : FakeOpenAiServer.responseStream
  const toolsOf = (body: any) =>
    body.tools.map((tool: any) => api === "chat" ? { type: tool.type, ...tool.function } : tool)

  describe(`conversion (${api})`, () => {
    it.effect("tools from a toolkit: JSON Schema, parallel calls resolved by the handlers", () =>
      Effect.gen(function*() {
        yield* enqueue(answer({
          toolCalls: [{ id: "call_1", name: "get_weather", arguments: { city: "Paris" } }, {
            id: "call_2",
            name: "get_time",
            arguments: { zone: "CET" }
          }]
        }))
        const toolkit = yield* Tools
        const response = yield* LanguageModel.generateText({ prompt: "Weather and time?", toolkit })
        assert.deepStrictEqual(response.toolResults.map((result) => result.result), ["sunny in Paris", "noon in CET"])
        assert.strictEqual(response.finishReason, "tool-calls")
        const body = yield* lastBody
        const [weather, time] = toolsOf(body)
        assert.strictEqual(weather.name, "get_weather")
        assert.strictEqual(weather.description, "The weather in a city")
        assert.deepStrictEqual(weather.parameters.required, ["city"])
        assert.strictEqual(time.description, undefined)
        assert.strictEqual(body.tool_choice, "auto")
        // no strict flag on chat unless asked; the Responses API is told strict: false
        assert.strictEqual(weather.strict, api === "chat" ? undefined : false)
      }).pipe(Effect.provide(ToolsLive), Effect.provide(layer)))

    it.effect("tool choice: a named tool, and oneOf", () =>
      Effect.gen(function*() {
        const toolkit = yield* Tools
        yield* enqueue(answer({ text: "ok" }), answer({ text: "ok" }))
        yield* LanguageModel.generateText({ prompt: "Hi", toolkit, toolChoice: { tool: "get_time" } })
        const named = yield* lastBody
        assert.deepStrictEqual(
          named.tool_choice,
          api === "chat" ? { type: "function", function: { name: "get_time" } } : { type: "function", name: "get_time" }
        )
        yield* LanguageModel.generateText({ prompt: "Hi", toolkit, toolChoice: { mode: "required", oneOf: ["get_weather"] } })
        const oneOf = yield* lastBody
        assert.deepStrictEqual(toolsOf(oneOf).map((tool: any) => tool.name), ["get_weather"])
        assert.deepStrictEqual(
          oneOf.tool_choice,
          api === "chat"
            ? "required"
            : { type: "allowed_tools", mode: "required", tools: [{ type: "function", name: "get_weather" }] }
        )
      }).pipe(Effect.provide(ToolsLive), Effect.provide(layer)))

    it.effect("Tool.Strict asks for strict mode", () =>
      Effect.gen(function*() {
        yield* enqueue(answer({ text: "ok" }))
        const Strict = Tool.make("lookup", { parameters: Schema.Struct({ id: Schema.String }) }).annotate(Tool.Strict, true)
        yield* generateDeclared("Hi", Strict)
        assert.strictEqual(toolsOf(yield* lastBody)[0].strict, true)
      }).pipe(Effect.provide(layer)))

    it.effect("images and files: bytes become data URLs, URLs stay URLs, detail is kept", () =>
      Effect.gen(function*() {
        yield* enqueue(answer({ text: "a cat" }))
        const prompt = Prompt.fromMessages([
          Prompt.userMessage({
            content: [
              Prompt.textPart({ text: "What is this?" }),
              Prompt.filePart({ mediaType: "image/png", data: new Uint8Array([1, 2, 3]) }),
              Prompt.filePart({
                mediaType: "image/jpeg",
                data: new URL("https://example.com/cat.jpg"),
                options: { openai: { imageDetail: "low" } }
              }),
              Prompt.filePart({ mediaType: "application/pdf", fileName: "a.pdf", data: "JVBERi0=" })
            ]
          })
        ])
        yield* LanguageModel.generateText({ prompt })
        const body = yield* lastBody
        const content = api === "chat" ? body.messages[0].content : body.input[0].content
        assert.deepStrictEqual(
          content,
          api === "chat"
            ? [
              { type: "text", text: "What is this?" },
              { type: "image_url", image_url: { url: "data:image/png;base64,AQID" } },
              { type: "image_url", image_url: { url: "https://example.com/cat.jpg", detail: "low" } },
              { type: "file", file: { file_data: "data:application/pdf;base64,JVBERi0=", filename: "a.pdf" } }
            ]
            : [
              { type: "input_text", text: "What is this?" },
              { type: "input_image", image_url: "data:image/png;base64,AQID", detail: "auto" },
              { type: "input_image", image_url: "https://example.com/cat.jpg", detail: "low" },
              { type: "input_file", file_data: "data:application/pdf;base64,JVBERi0=", filename: "a.pdf" }
            ]
        )
      }).pipe(Effect.provide(layer)))

    it.effect("structured output through generateObject: strict JSON Schema, decoded answer", () =>
      Effect.gen(function*() {
        const Person = Schema.Struct({ name: Schema.String, nickname: Schema.optional(Schema.String) })
        // strict mode makes optional fields required and nullable: the answer uses null
        yield* enqueue(answer({ text: JSON.stringify({ name: "Ada", nickname: null }) }))
        const response = yield* LanguageModel.generateObject({ prompt: "Who?", schema: Person, objectName: "person" })
        assert.deepStrictEqual(response.value, { name: "Ada" })
        const body = yield* lastBody
        const format = api === "chat" ? body.response_format : body.text.format
        const schema = api === "chat" ? format.json_schema : format
        assert.strictEqual(api === "chat" ? format.type : schema.type, "json_schema")
        assert.strictEqual(schema.name, "person")
        assert.strictEqual(schema.strict, true)
        assert.deepStrictEqual(schema.schema.required, ["name", "nickname"])
      }).pipe(Effect.provide(layer)))

    it.effect("streaming: text deltas, tool-call deltas assembled, finish and usage from the last chunk", () =>
      Effect.gen(function*() {
        yield* enqueue(streamed({
          text: "Let me check.",
          toolCalls: [{ id: "call_9", name: "get_weather", arguments: { city: "San Francisco, California" } }],
          usage: { input: 42, output: 17, cached: 8, reasoning: 5 }
        }))
        const parts = yield* Stream.runCollect(
          LanguageModel.streamText({ prompt: "Weather?", toolkit: yield* Tools, disableToolCallResolution: true })
        )
        const types = parts.map((part) => part.type)
        assert.strictEqual(parts.filter((part) => part.type === "text-delta").map((part: any) => part.delta).join(""), "Let me check.")
        assert.isAbove(types.filter((type) => type === "tool-params-delta").length, 1)
        const call = parts.find((part) => part.type === "tool-call") as any
        assert.deepStrictEqual([call.id, call.name, call.params], ["call_9", "get_weather", { city: "San Francisco, California" }])
        const finish = parts.at(-1) as any
        assert.strictEqual(finish.type, "finish")
        assert.strictEqual(finish.reason, "tool-calls")
        assert.deepStrictEqual(
          [finish.usage.inputTokens.total, finish.usage.inputTokens.cacheRead, finish.usage.outputTokens.total, finish.usage.outputTokens.reasoning],
          [42, 8, 17, 5]
        )
        if (api === "chat") assert.deepStrictEqual((yield* lastBody).stream_options, { include_usage: true })
      }).pipe(Effect.provide(ToolsLive), Effect.provide(layer)))

    it.effect("systemMessageRole: developer", () =>
      Effect.gen(function*() {
        yield* enqueue(answer({ text: "ok" }))
        yield* LanguageModel.generateText({ prompt: Prompt.make([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]) })
        const body = yield* lastBody
        assert.deepStrictEqual((api === "chat" ? body.messages : body.input)[0], { role: "developer", content: "Be brief." })
      }).pipe(Effect.provide(modelLayer({ model: "o4-mini", api, systemMessageRole: "developer" } as const))))
  })
}

describe("conversion (responses only)", () => {
  const layer = modelLayer({ model: "gpt-5-mini", api: "responses", config: { include: ["reasoning.encrypted_content"], store: false } })

  it.effect("reasoning items and item ids come back in the next turn's input", () =>
    Effect.gen(function*() {
      const first = FakeOpenAiServer.responseBody({
        toolCalls: [{ id: "call_1", name: "get_weather", arguments: { city: "Oslo" } }]
      }) as any
      first.output.unshift({
        id: "rs_1",
        type: "reasoning",
        summary: [{ type: "summary_text", text: "Need the weather." }],
        encrypted_content: "gAAAA-opaque"
      })
      yield* enqueue(FakeOpenAiServer.jsonResponse(first), FakeOpenAiServer.response({ text: "Cold." }))
      const toolkit = yield* Tools
      const turn1 = yield* LanguageModel.generateText({ prompt: "Weather in Oslo?", toolkit })
      const history = Prompt.concat(Prompt.make("Weather in Oslo?"), Prompt.fromResponseParts(turn1.content))
      yield* LanguageModel.generateText({ prompt: history, toolkit })
      const body = yield* lastBody
      assert.deepStrictEqual(body.include, ["reasoning.encrypted_content"])
      assert.deepStrictEqual(body.input.slice(1), [
        { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "Need the weather." }], encrypted_content: "gAAAA-opaque" },
        { type: "function_call", call_id: "call_1", name: "get_weather", arguments: "{\"city\":\"Oslo\"}", id: "fc_fake_1" },
        { type: "function_call_output", call_id: "call_1", output: "sunny in Oslo" }
      ])
    }).pipe(Effect.provide(ToolsLive), Effect.provide(layer)))

  it.effect("built-in tools (Tool.providerDefined with an openai. id) are sent as they are", () =>
    Effect.gen(function*() {
      yield* enqueue(FakeOpenAiServer.response({ text: "Found it." }))
      const WebSearch = Tool.providerDefined({
        id: "openai.web_search",
        customName: "WebSearch",
        providerName: "web_search",
        args: Schema.Struct({ search_context_size: Schema.String })
      })({ search_context_size: "low" })
      const response = yield* generateDeclared("News?", WebSearch)
      assert.strictEqual(response.text, "Found it.")
      assert.deepStrictEqual((yield* lastBody).tools, [{ type: "web_search", search_context_size: "low" }])
    }).pipe(Effect.provide(layer)))

  it.effect("with effect's ResponseIdTracker: previous_response_id and only the new messages", () =>
    Effect.gen(function*() {
      yield* enqueue(
        FakeOpenAiServer.response({ id: "resp_first", text: "Hello!" }),
        FakeOpenAiServer.response({ id: "resp_second", text: "Fine." })
      )
      const first = Prompt.make("Hi")
      const turn1 = yield* LanguageModel.generateText({ prompt: first })
      const history = Prompt.concat(Prompt.concat(first, Prompt.fromResponseParts(turn1.content)), Prompt.make("How are you?"))
      yield* LanguageModel.generateText({ prompt: history })
      const body = yield* lastBody
      assert.strictEqual(body.previous_response_id, "resp_first")
      assert.deepStrictEqual(body.input, [{ role: "user", content: "How are you?" }])
    }).pipe(
      Effect.provideServiceEffect(ResponseIdTracker.ResponseIdTracker, ResponseIdTracker.make),
      Effect.provide(modelLayer({ model: "gpt-5-mini", api: "responses" }))
    ))
})

describe("conversion (chat only)", () => {
  it.effect("a built-in tool on Chat Completions fails before any request, as an invalid request", () =>
    Effect.gen(function*() {
      const WebSearch = Tool.providerDefined({ id: "openai.web_search", customName: "WebSearch", providerName: "web_search" })()
      const error = yield* Effect.flip(generateDeclared("News?", WebSearch))
      assert.strictEqual(error.reason._tag, "ToolConfigurationError")
      assert.strictEqual(HarnessError.fromAiError(error)._tag, "InvalidRequest")
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      assert.strictEqual((yield* server.requests).length, 0)
    }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini" }))))
})
