// Prisma 7 with @prisma/adapter-pg: connects with the URL in the variable named
// by argv[2] (DATABASE_URL or DIRECT_URL) and prints current_user.
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/prisma/client";

const name = process.argv[2] ?? "DATABASE_URL";
const adapter = new PrismaPg({ connectionString: process.env[name] });
const prisma = new PrismaClient({ adapter });
const rows = await prisma.$queryRaw<{ user: string }[]>`select current_user as "user"`;
console.log(rows[0].user);
await prisma.$disconnect();
