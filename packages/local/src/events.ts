import { randomUUID } from "node:crypto";

/** An event in EventBridge's envelope, as AWS services publish them. */
export interface BusEvent<Detail = unknown> {
  version: "0";
  id: string;
  "detail-type": string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Detail;
}

export type Listener = (event: BusEvent) => void;

/**
 * Berth Local's in-process event bus: services publish AWS-shaped events, and subscribers (the
 * EventBridge rules of later issues, tests) receive them in order.
 */
export class EventBus {
  private readonly listeners = new Set<Listener>();
  private readonly account: string;
  private readonly region: string;

  constructor(options: { account: string; region: string }) {
    this.account = options.account;
    this.region = options.region;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish<Detail>(
    source: string,
    detailType: string,
    resources: string[],
    detail: Detail,
    time = new Date(),
  ): BusEvent<Detail> {
    const event: BusEvent<Detail> = {
      version: "0",
      id: randomUUID(),
      "detail-type": detailType,
      source,
      account: this.account,
      time: time.toISOString(),
      region: this.region,
      resources,
      detail,
    };
    for (const listener of this.listeners) {
      try {
        listener(event as BusEvent);
      } catch {
        // A failing subscriber must not break the publisher or the other subscribers.
      }
    }
    return event;
  }
}
