/**
 * The server's error mapping, row by row (the rows a fake provider cannot
 * easily produce over HTTP included).
 */
import { HarnessError } from "@effect-harness/core"
import { assert, describe, it } from "@effect/vitest"
import { Duration } from "effect"
import { fromError, type TriageError } from "../src/server/httpErrors.ts"

const exhausted = (last: HarnessError.Recoverable) => new HarnessError.RetriesExhausted({ attempts: 3, last })

const rows: ReadonlyArray<readonly [TriageError, number, string]> = [
  [new HarnessError.InvalidRequest({ message: "bad", status: 400 }), 422, "InvalidRequest"],
  [new HarnessError.InvalidOutput({ raw: "x", issues: "not JSON" }), 422, "InvalidOutput"],
  [new HarnessError.ContentRefused({ message: "no" }), 422, "ContentRefused"],
  [exhausted(new HarnessError.RateLimited({ message: "slow", retryAfter: Duration.millis(2_500) })), 503, "RateLimited"],
  [exhausted(new HarnessError.ProviderUnavailable({ message: "503", status: 503 })), 503, "ProviderUnavailable"],
  [exhausted(new HarnessError.ConnectionFailed({ message: "refused" })), 503, "ConnectionFailed"],
  [exhausted(new HarnessError.Timeout({ message: "slow" })), 504, "Timeout"],
  [exhausted(new HarnessError.ContextOverflow({ message: "too long" })), 413, "ContextOverflow"],
  [exhausted(new HarnessError.InvalidOutput({ raw: "x", issues: "bad" })), 422, "InvalidOutput"],
  [new HarnessError.Timeout({ message: "triage timed out after 1m" }), 504, "Timeout"],
  [new HarnessError.QuotaExhausted({ message: "quota" }), 503, "QuotaExhausted"],
  [new HarnessError.AuthenticationFailed({ message: "Incorrect API key sk-abc", status: 401 }), 502, "AuthenticationFailed"],
  [new HarnessError.BudgetExceeded({ limit: "totalTokens", max: 100, used: 150 }), 402, "BudgetExceeded"]
]

describe("httpErrors.fromError", () => {
  for (const [error, status, tag] of rows) {
    it(`${error._tag}${error._tag === "RetriesExhausted" ? ` (${error.last._tag})` : ""} -> ${status}`, () => {
      const http = fromError(error)
      assert.strictEqual(http.status, status)
      assert.strictEqual(http.error, tag)
    })
  }

  it("Retry-After carries the provider's delay, in whole seconds", () => {
    const http = fromError(exhausted(new HarnessError.RateLimited({ message: "slow", retryAfter: Duration.millis(2_500) })))
    assert.deepStrictEqual(http.headers, { "retry-after": "3" })
    assert.isUndefined(fromError(exhausted(new HarnessError.RateLimited({ message: "slow" }))).headers)
  })

  it("never shows the client the provider's words about credentials", () => {
    const http = fromError(new HarnessError.AuthenticationFailed({ message: "Incorrect API key sk-abc", status: 401 }))
    assert.notInclude(http.message, "sk-abc")
    assert.isTrue(http.log)
  })
})
