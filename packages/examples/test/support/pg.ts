/**
 * The PostgreSQL of the scaled-out triage's tests: the sql package's settings
 * (127.0.0.1:5432, user postgres, database test, or DATABASE_URL / PG*
 * variables), as the workflow tests use them, and the URL the example's
 * processes are given.
 */
import { pgConfig } from "../../../sql/test/support/pg.ts"

export { describeTarget, isCI, probe, requirePostgres, withSql } from "../../../sql/test/support/pg.ts"

/** A table prefix of this test file's own, so runs never meet. */
export const uniquePrefix = (name: string) => `eh_${name}_${process.pid}_${Date.now().toString(36)}`

/** `DATABASE_URL` for the example's processes: the tests' own, or one built from the same settings. */
export const databaseUrl = (): string => {
  const url = process.env.DATABASE_URL
  if (url !== undefined && url.length > 0) return url
  const password = process.env.PGPASSWORD === undefined ? "" : `:${encodeURIComponent(process.env.PGPASSWORD)}`
  return `postgres://${encodeURIComponent(pgConfig.username ?? "postgres")}${password}@${pgConfig.host ?? "127.0.0.1"}:` +
    `${pgConfig.port ?? 5432}/${pgConfig.database ?? "test"}`
}
