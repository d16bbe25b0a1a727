/**
 * The errors Step Functions reports for a Lambda invocation that failed on Lambda's side, not
 * the function's: transient, so every invoke state retries them.
 */
export const TRANSIENT_ERRORS: readonly string[] = [
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
  "Lambda.TooManyRequestsException",
];
