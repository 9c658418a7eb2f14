/**
 * MCP tools in an agent, against a real MCP server: fixtures/mcp-server.ts
 * runs in a child process (effect's `McpServer` over stdio) and the agent
 * gets its tools from effect's `McpClient.toolkit`, alone or next to local
 * tools. The model is scripted (TestModel); everything between the agent and
 * the server is real.
 */
import { Agent } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Schema } from "effect"
import { McpClient, McpProtocol, type Prompt, Tool, Toolkit } from "effect/ai"
import { ChildProcess } from "effect/process"
import { fileURLToPath } from "node:url"

const server = fileURLToPath(new URL("./fixtures/mcp-server.ts", import.meta.url))

// a new server process each time the layer is built
const Orders = McpClient.layerStdio({
  name: "mcp-test",
  version: "1.0.0",
  protocol: McpProtocol.v2025_11_25,
  command: ChildProcess.make(process.execPath, [server])
}).pipe(Layer.provide(NodeServices.layer))

const Clock = Tool.make("local_time", { success: Schema.String })
const Local = Toolkit.make(Clock)
const LocalHandlers = Local.toLayer({ local_time: () => Effect.succeed("09:30") })

// a local tool with the name of one of the server's
const Lookup = Toolkit.make(Tool.make("lookup_order", { success: Schema.String }))

const resultsOf = (prompt: Prompt.Prompt) =>
  prompt.content.flatMap((message) =>
    message.role === "tool" ? message.content.flatMap((part) => part.type === "tool-result" ? [part] : []) : []
  )

describe("MCP tools", () => {
  it.live("a server's tools are listed to the model and called by the agent, next to local tools", () =>
    Effect.gen(function*() {
      const remote = yield* McpClient.toolkit(yield* McpClient.McpClient)
      const agent = Agent.make({ name: "desk", toolkit: [remote, Local] })
      const answer = yield* agent.run("Where is order A-1, and what time is it?")
      assert.strictEqual(answer, "A-1 has shipped; it is 09:30.")
      const [first, second] = yield* TestModel.requests
      assert.deepStrictEqual([...first!.tools].sort(), ["cancel_order", "local_time", "lookup_order", "restock"])
      const results = resultsOf(second!.prompt)
      assert.deepStrictEqual(results.map((part) => [part.name, part.isFailure]), [["lookup_order", false], ["local_time", false]])
      assert.deepStrictEqual(JSON.parse(results[0]!.result as string), { id: "A-1", status: "shipped" })
      assert.strictEqual(results[1]!.result, "09:30")
    }).pipe(
      Effect.provide(Layer.mergeAll(
        TestModel.layer([
          TestModel.toolCalls([{ name: "lookup_order", params: { id: "A-1" } }, { name: "local_time", params: {} }]),
          TestModel.text("A-1 has shipped; it is 09:30.")
        ]),
        LocalHandlers,
        Orders
      ))
    ))

  it.live("a tool name in two toolkits is refused when the agent is made (a prefix renames the server's tools)", () =>
    Effect.gen(function*() {
      const client = yield* McpClient.McpClient
      const remote = yield* McpClient.toolkit(client)
      assert.throws(() => Agent.make({ name: "desk", toolkit: [remote, Lookup] }), /two toolkits have a tool named "lookup_order"/)
      const prefixed = yield* McpClient.toolkit(client, "orders__")
      const agent = Agent.make({ name: "desk", toolkit: [prefixed, Lookup] })
      yield* agent.run("hello")
      const [request] = yield* TestModel.requests
      assert.deepStrictEqual([...request!.tools].sort(), [
        "lookup_order",
        "orders__cancel_order",
        "orders__lookup_order",
        "orders__restock"
      ])
    }).pipe(Effect.provide(Layer.mergeAll(
      TestModel.layer([TestModel.text("Hello.")]),
      Lookup.toLayer({ lookup_order: () => Effect.succeed("local") }),
      Orders
    ))))

  it.live("a tool error from the server is returned to the model as an error result, and the run goes on", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "desk", toolkit: yield* McpClient.toolkit(yield* McpClient.McpClient) })
      const answer = yield* agent.run("Cancel order A-1")
      assert.strictEqual(answer, "A-1 has already shipped.")
      const [, second] = yield* TestModel.requests
      const [result] = resultsOf(second!.prompt)
      assert.strictEqual(result!.isFailure, true)
      const failure = result!.result as { readonly error: string; readonly message: string }
      assert.strictEqual(failure.error, "ToolFailed")
      assert.include(failure.message, "Order A-1 has shipped and can no longer be cancelled")
    }).pipe(
      Effect.provide(Layer.mergeAll(
        TestModel.layer([TestModel.toolCall("cancel_order", { id: "A-1" }), TestModel.text("A-1 has already shipped.")]),
        Orders
      ))
    ))

  it.live("a server that exits mid-call ends the run with ToolUnavailable; a new client connects again", () =>
    Effect.gen(function*() {
      const crashed = yield* Effect.gen(function*() {
        const agent = Agent.make({ name: "desk", toolkit: yield* McpClient.toolkit(yield* McpClient.McpClient) })
        return yield* Effect.exit(agent.run("Restock, then tell me the status of B-2"))
      }).pipe(Effect.provide(Orders))
      assert.isTrue(Exit.isFailure(crashed))
      const error = Exit.findErrorOption(crashed)
      assert.strictEqual(error._tag, "Some")
      const unavailable = (error as { readonly value: Agent.AgentError }).value
      assert.strictEqual(unavailable._tag, "ToolUnavailable")
      assert.deepInclude(unavailable, { agent: "desk", tool: "restock" })
      // whichever the client saw first: the closed pipe or the exit code
      assert.match(unavailable.message, /^MCP (server closed stdout|process exited \(3\))$/)
      // the model was not asked again: the run ended at the failed call
      assert.strictEqual((yield* TestModel.requests).length, 1)

      // effect's McpClient does not reconnect; a new scope starts a new server
      const status = yield* Effect.gen(function*() {
        const agent = Agent.make({ name: "desk", toolkit: yield* McpClient.toolkit(yield* McpClient.McpClient) })
        return yield* agent.run("Status of B-2?")
      }).pipe(Effect.provide(Orders))
      assert.strictEqual(status, "B-2 is processing.")
    }).pipe(
      Effect.provide(TestModel.layer([
        TestModel.toolCall("restock", {}),
        TestModel.toolCall("lookup_order", { id: "B-2" }),
        TestModel.text("B-2 is processing.")
      ]))
    ))
})
