import type { Workflow } from "./asl.ts";
import { deleteService, deleteStack } from "./delete.ts";
import { deploy } from "./deploy.ts";
import { refresh } from "./refresh.ts";
import { rollback } from "./rollback.ts";

export type { Catcher, Retrier, State, StateMachine, Workflow } from "./asl.ts";
export { deleteService, deleteStack } from "./delete.ts";
export { deploy } from "./deploy.ts";
export { refresh } from "./refresh.ts";
export { rollback } from "./rollback.ts";
export { isKnownPlaceholder, placeholdersOf, RESOURCE_PLACEHOLDERS, substitute } from "./substitute.ts";

/** Every workflow the installation creates a state machine for, by name. */
export const WORKFLOWS: readonly Workflow[] = [deploy, deleteService, deleteStack, rollback, refresh];
