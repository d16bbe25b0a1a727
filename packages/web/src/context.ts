import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Client } from "./api.ts";
import type { Session } from "./session.ts";

export interface ConsoleContext {
  client: Client;
  session: Session;
}

export const Console = createContext<ConsoleContext | undefined>(undefined);

export function useConsole(): ConsoleContext {
  const value = useContext(Console);
  if (!value) throw new Error("useConsole outside a signed-in page");
  return value;
}
