import { defineConfig } from "drizzle-kit";

// `npm run db:generate` runs drizzle-kit once per dialect; DB_DIALECT picks which.
const dialect = process.env.DB_DIALECT === "pg" ? "pg" : "sqlite";

export default defineConfig(
  dialect === "pg"
    ? { dialect: "postgresql", schema: "./src/db/schema/pg.ts", out: "./drizzle/pg" }
    : {
        dialect: "sqlite",
        schema: "./src/db/schema/sqlite.ts",
        out: "./drizzle/sqlite",
      },
);
