import { type ComponentChild, render } from "preact";
import { act } from "preact/test-utils";

/** Renders into a fresh container of the document; `unmount` removes it. */
export function mount(node: ComponentChild) {
  const container = document.createElement("div");
  document.body.append(container);
  act(() => {
    render(node, container);
  });
  return {
    container,
    text: () => container.textContent ?? "",
    unmount: () => {
      act(() => render(null, container));
      container.remove();
    },
  };
}

/** Types into an input as a person would: value, then the input event Preact listens to. */
export function type(input: Element | null, value: string): void {
  if (!(input instanceof HTMLInputElement)) throw new Error("not an input");
  act(() => {
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

export function click(element: Element | null | undefined): void {
  if (!(element instanceof HTMLElement)) throw new Error("nothing to click");
  act(() => element.click());
}

/** The button whose text is exactly `name`. */
export function button(container: Element, name: string): HTMLButtonElement | undefined {
  return [...container.querySelectorAll("button")].find(
    (candidate) => candidate.textContent?.trim() === name,
  );
}
