// What the README shows: the CLI (migrations) uses DIRECT_URL, the application
// DATABASE_URL (pooled) through the adapter (prisma_adapter_pg.ts).
import { defineConfig, env } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  datasource: { url: env("DIRECT_URL") },
});
