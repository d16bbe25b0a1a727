import { BerthError } from "../errors.ts";

/** The environment lacks something the stack needs (an ingress ARN, a capacity provider). */
export class RenderError extends BerthError {}
