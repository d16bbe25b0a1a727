import { ApiGatewayV2Client } from "@aws-sdk/client-apigatewayv2";
import { type ClientConfig, isAwsError } from "./errors.ts";

export function apiGatewayClient(config: ClientConfig = {}): ApiGatewayV2Client {
  return new ApiGatewayV2Client(config);
}

/** The API, route, integration or stage does not exist (deleted meanwhile, or never created). */
export function isNotFound(error: unknown): boolean {
  return isAwsError(error, "NotFoundException");
}

/** Another request changed the API at the same time; sending again is safe. */
export function isConflict(error: unknown): boolean {
  return isAwsError(error, "ConflictException", "TooManyRequestsException");
}
