export * as StepFunctions from "./step-functions.ts";
