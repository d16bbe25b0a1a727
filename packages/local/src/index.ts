export { type BerthLocal, type BerthLocalOptions, startBerthLocal } from "./berth-local.ts";
export { type BusEvent, EventBus } from "./events.ts";
