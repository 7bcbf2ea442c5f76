// Drizzle ORM over postgres.js with the URI in $NAME (argv[2]); prints current_user.
// prepare: false, because PgBouncer in transaction mode cannot keep prepared statements.
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";

const client = postgres(process.env[process.argv[2] ?? "DATABASE_URL"], { prepare: false });
const db = drizzle(client);
const rows = await db.execute(sql`select current_user`);
console.log(rows[0].current_user);
await client.end();
