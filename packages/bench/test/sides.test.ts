/**
 * The bench's sides do the work they are named after: the sides of one
 * comparison give the same answer from the same model calls. A reference side
 * (the raw SDK in effect, the bare loops) that did less would make the floor
 * the others are read against wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { answer, finalText, type RunningServer, startServer, toolCallsPerLoop } from "../src/server.ts"
import { type Built, type Call, effectOnRaw, harness, type HarnessSides, raw } from "../src/sides.ts"

// every request of every side, by body (the SDKs keep the fetch they find:
// installed before any client is made)
const requests: Array<{ readonly stream: boolean; readonly messages: number }> = []
const fetchOf = globalThis.fetch

let server: RunningServer
let ours: Built<HarnessSides>
let rawSides: ReturnType<typeof raw>
let effectSides: ReturnType<typeof effectOnRaw>

beforeAll(async () => {
  globalThis.fetch = ((url: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : {}
    requests.push({ stream: body.stream === true, messages: body.messages?.length ?? 0 })
    return fetchOf(url, init)
  }) as typeof fetch
  server = await startServer()
  ours = await harness(server.url)
  rawSides = raw(server.url)
  effectSides = effectOnRaw(server.url)
})

afterAll(async () => {
  globalThis.fetch = fetchOf
  await ours?.close()
  await server?.close()
})

// The answer of one call and the requests it made.
const traced = async (call: Call) => {
  requests.length = 0
  const result = await call()
  return { result, requests: requests.slice() }
}

describe("bench sides", () => {
  it("every structured side decodes the same answer from one request", async () => {
    for (const call of [rawSides.structured, effectSides.structured, effectSides.fromPrompt, ours.value.bareStructured, ours.value.structured]) {
      const { requests, result } = await traced(call)
      expect(result).toEqual(answer)
      expect(requests).toEqual([{ stream: false, messages: 1 }])
    }
  })

  it("every loop answers after the same five model calls, each sending the history so far", async () => {
    const steps = Array.from({ length: toolCallsPerLoop + 1 }, (_, step) => 1 + 2 * step)
    const loops = [
      [rawSides.toolLoop, false],
      [ours.value.bareToolLoop, false],
      [ours.value.toolLoop, false],
      [rawSides.streamedToolLoop, true],
      [ours.value.bareStreamedToolLoop, true],
      [ours.value.queuedStreamedToolLoop, true],
      [ours.value.streamedToolLoop, true]
    ] as const
    for (const [call, stream] of loops) {
      const { requests, result } = await traced(call)
      expect(result).toBe(finalText)
      expect(requests).toEqual(steps.map((messages) => ({ stream, messages })))
    }
  })
})
