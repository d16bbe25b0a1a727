import { readApiConfig } from "@berth/core/config";
import { apiDependencies } from "../build.ts";
import { createApiHandler } from "./api.ts";

// Built once per Lambda container, at load: a missing variable stops the function here.
export const handler = createApiHandler(apiDependencies(readApiConfig()));
