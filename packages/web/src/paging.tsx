import { useState } from "preact/hooks";

/** Pages of a list: one the API returns whole, paged here, or one the API pages with a cursor. */

/** Client-side pages of a list the API returns whole. */
export function usePages<T>(
  items: readonly T[],
  pageSize: number,
): { page: number; pages: number; shown: T[]; setPage: (page: number) => void } {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(items.length / pageSize));
  const current = Math.min(page, pages - 1);
  return { page: current, pages, shown: items.slice(current * pageSize, (current + 1) * pageSize), setPage };
}

export function Pager(props: {
  label: string;
  page: number;
  pages: number;
  setPage: (page: number) => void;
}) {
  if (props.pages <= 1) return null;
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" disabled={props.page === 0} onClick={() => props.setPage(props.page - 1)}>
        Previous page
      </button>
      <span>
        Page {props.page + 1} of {props.pages}
      </span>
      <button
        type="button"
        disabled={props.page >= props.pages - 1}
        onClick={() => props.setPage(props.page + 1)}
      >
        Next page
      </button>
    </nav>
  );
}

/** Pages of a cursor-paginated list: the API's `nextCursor` is kept per page so Previous works too. */
export interface CursorPages {
  cursor: string | undefined;
  page: number;
  next: (cursor: string) => void;
  previous: () => void;
}

export function useCursorPages(): CursorPages {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  return {
    cursor: cursors[cursors.length - 1],
    page: cursors.length - 1,
    next: (cursor) => setCursors((list) => [...list, cursor]),
    previous: () => setCursors((list) => (list.length > 1 ? list.slice(0, -1) : list)),
  };
}

export function CursorPager(props: { label: string; pages: CursorPages; nextCursor: string | undefined }) {
  const { page, next, previous } = props.pages;
  if (page === 0 && !props.nextCursor) return null;
  const { nextCursor } = props;
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" disabled={page === 0} onClick={previous}>
        Newer
      </button>
      <span>Page {page + 1}</span>
      <button type="button" disabled={!nextCursor} onClick={() => nextCursor && next(nextCursor)}>
        Older
      </button>
    </nav>
  );
}
