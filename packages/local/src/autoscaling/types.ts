/**
 * What the scaler needs from ECS: the services it scales and the processes of their tasks. Berth
 * Local's ECS engine implements it; tests implement it over processes they spawn.
 */
export interface ScalableServices {
  /** resourceId is `service/<cluster>/<service>` */
  exists(resourceId: string): boolean;
  desiredCount(resourceId: string): number | undefined;
  setDesiredCount(resourceId: string, count: number, cause: string): void;
  /** Each live (RUNNING) task of the service: the process group ids of its containers and the task's size. */
  tasks(
    resourceId: string,
  ): { taskId: string; processGroups: number[]; cpuUnits: number; memoryMiB: number }[];
}

/** One live task of a scalable service, as `ScalableServices.tasks` lists it. */
export type ScalableTask = ReturnType<ScalableServices["tasks"]>[number];
