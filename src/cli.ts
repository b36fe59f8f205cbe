/**
 * The duplex CLI (CONTRACT §5), on every runtime:
 *   bun run src/cli.ts <command> · deno run -A src/cli.ts <command> · npx tsx src/cli.ts <command>
 */
import process from "node:process";
import { main } from "./cli/commands.ts";

process.exitCode = await main(process.argv.slice(2), process.env);
