/**
 * The PostgreSQL of the workflow tests (the sql package's settings: 127.0.0.1:5432,
 * user postgres, database test, or DATABASE_URL / PG* variables), and a table
 * prefix of their own per test file so runs never meet.
 */
export { clientLayer, describeTarget, isCI, pgConfig, probe, requirePostgres, withSql } from "../../../sql/test/support/pg.ts"

export const uniquePrefix = (name: string) => `eh_${name}_${process.pid}_${Date.now().toString(36)}`
