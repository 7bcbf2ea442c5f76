// node-postgres: `node node_postgres.mjs NAME` connects with the URI in $NAME;
// `node node_postgres.mjs --libpq` with `new Pool()`, which reads PGHOST,
// PGPORT, PGUSER, PGPASSWORD, PGDATABASE and PGSSLMODE. Prints current_user.
import pg from "pg";

const arg = process.argv[2] ?? "DATABASE_URL";
const pool = arg === "--libpq" ? new pg.Pool() : new pg.Pool({ connectionString: process.env[arg] });
const { rows } = await pool.query("select current_user");
console.log(rows[0].current_user);
await pool.end();
