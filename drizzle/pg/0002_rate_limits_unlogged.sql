-- Rate-limit counters need no durability: an UNLOGGED table skips the WAL, so a
-- budget hit does not wait for a WAL flush (several times cheaper), and a crash
-- only resets the counters. drizzle-kit cannot express UNLOGGED, hence a custom
-- migration; the schema file is unchanged.
ALTER TABLE "rate_limits" SET UNLOGGED;
