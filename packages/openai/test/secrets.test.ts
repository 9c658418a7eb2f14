/**
 * A provider (a proxy, a compatible server) that echoes the API key in its
 * error messages: the key is removed before the message becomes an error, so
 * it reaches no error message, no log line and no journal file. Through the
 * real SDK over HTTP to the fake server (synthetic: the echo is scripted).
 */
import { Durable, Harness, HarnessError, Journal, RunStore } from "@effect-harness/core"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Layer, Logger, Schema } from "effect"
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { modelLayer } from "./support/env.ts"

// the key support/env.ts configures the client with
const configuredKey = "sk-test-secret"
// another credential a proxy might echo (it is not ours, but it is a key)
const otherKey = "sk-proj-Zx81Qb3LmNs0Tq6vWc2Ey9Rk"

const echoing = FakeOpenAiServer.error(401, {
  message: `Incorrect API key provided: ${configuredKey}. Upstream said: Authorization: Bearer ${otherKey} was rejected.`,
  type: "invalid_request_error",
  code: "invalid_api_key"
})

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })

const answer = Harness.prompt({ name: "answer", output: Schema.String, render: (q: string) => q })

describe("a provider that echoes the API key", () => {
  it.effect("synthetic 401 echoing the key: the key is in no error message, no log and no journal file", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(echoing, echoing)
      const lines: Array<string> = []
      const logger = Logger.make(({ message, cause }) => {
        lines.push(`${JSON.stringify(message)} ${Cause.pretty(cause)}`)
      })
      const directory = mkdtempSync(join(tmpdir(), "secrets-"))
      // a run that recorded a step, then failed on the model call: its journal records the failure
      const program = Journal.step({ kind: "tool", name: "lookup", request: { id: 1 } }, Schema.String, Effect.succeed("order 1")).pipe(
        Effect.andThen(Harness.run(answer, "hi"))
      )
      const run = Durable.run(program, "echoed-key").pipe(
        Effect.tapCause((cause) => Effect.logError("the call failed", cause)),
        Effect.provide(RunStore.layerFileSystem({ directory }).pipe(Layer.provide(NodeFileSystem.layer))),
        Effect.provide(Logger.layer([logger]))
      )
      const error = yield* Effect.flip(run)
      assert.strictEqual(error._tag, "AuthenticationFailed")
      assert.isTrue(HarnessError.isFatal(error))
      // the provider's words stay, the credentials go
      assert.include(error.message, "Incorrect API key provided: [redacted]")
      assert.include(error.message, "Bearer [redacted]")
      const plain = yield* Effect.flip(Harness.run(answer, "hi"))

      const texts = [
        error.message,
        String(error),
        JSON.stringify(error),
        plain.message,
        ...lines,
        ...filesUnder(directory).map((file) => readFileSync(file, "utf8"))
      ]
      assert.isAbove(lines.length, 0, "log lines")
      assert.isAbove(filesUnder(directory).length, 0, "journal files")
      for (const text of texts) {
        assert.notInclude(text, configuredKey)
        assert.notInclude(text, otherKey)
      }
    }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini" }))))
})
