import { parseArgs } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createStore, TokenRecord } from "@berth/core/store";

/**
 * The first admin token of an installation on AWS, registered straight into its table with the
 * operator's own AWS credentials (dynamodb:PutItem and Query on the table): the API cannot
 * issue the first token, because issuing one takes an admin token.
 *
 *   npx tsx stacks/admin-token.ts --table <TableName output> [--name "admin (alice)"]
 *
 * Prints a new token once (only its hash is stored). With BERTH_ADMIN_TOKEN set, registers
 * that token instead, as Berth Local does, and prints nothing secret.
 */
const { values } = parseArgs({
  options: {
    table: { type: "string" },
    name: { type: "string", default: "admin (bootstrap)" },
  },
});
if (!values.table) {
  console.error("usage: npx tsx stacks/admin-token.ts --table <the Store stack's TableName output>");
  process.exit(2);
}

const store = createStore({
  client: DynamoDBDocumentClient.from(new DynamoDBClient({})),
  tableName: values.table,
});
const input = { name: values.name ?? "admin (bootstrap)", scopes: ["admin" as const] };
const chosen = process.env.BERTH_ADMIN_TOKEN;
if (chosen) {
  const info = await TokenRecord.adopt(store, input, chosen);
  console.log(`BERTH_ADMIN_TOKEN is registered as token ${info.id} (${info.name})`);
} else {
  const { token, info } = await TokenRecord.create(store, input);
  console.log(`token ${info.id} (${info.name}), shown once:\n${token}`);
}
