import { z, type OpenAPIHono } from '@hono/zod-openapi';
import {
  listNotificationsRoute,
  markAllNotificationsReadRoute,
  markNotificationReadRoute,
  type Notification,
} from '@rubi/contracts/notifications.ts';
import { CURSOR_TIMESTAMP_SQL, CursorTimestamp, decodeCursor, encodeCursor, iso, isoRequired, notFound, requireUser, withDb, type EdgeEnv } from '@rubi/edge';

// The user's notifications: list (newest first, cursor pagination, `unread` filter, the unread
// count for the badge), mark one read, mark all read. Everything runs as the user, so RLS shows
// only their own rows (another user's id is a 404) and column privileges allow changing read_at only.

interface NotificationRow {
  id: string;
  kind: Notification['kind'];
  title: string;
  body: string;
  account_id: string | null;
  created_at: Date;
  read_at: Date | null;
  cursor_at: string;
}

const COLUMNS = `n.id, n.kind, n.title, n.body, n.account_id, n.created_at, n.read_at, ${CURSOR_TIMESTAMP_SQL('n.created_at')} as cursor_at`;
/** Sort key: newest first; ties broken by id. */
const NotificationCursor = z.tuple([CursorTimestamp, z.uuid()]);

function toNotification(row: NotificationRow): Notification {
  return {
    id: row.id,
    kind: row.kind,
    title: row.title,
    body: row.body,
    account_id: row.account_id,
    created_at: isoRequired(row.created_at),
    read_at: iso(row.read_at),
  };
}

export function registerNotificationRoutes(app: OpenAPIHono<EdgeEnv>): void {
  app.openapi({ ...listNotificationsRoute, middleware: [requireUser()] }, async (c) => {
    const query = c.req.valid('query');
    const after = decodeCursor(query.cursor, NotificationCursor);
    const { rows, unread } = await withDb(c, async (tx) => {
      const rows = await tx.query<NotificationRow>(
        `select ${COLUMNS}
         from public.notifications n
         where ($1::boolean is not true or n.read_at is null)
           and ($2::timestamptz is null or (n.created_at, n.id) < ($2::timestamptz, $3::uuid))
         order by n.created_at desc, n.id desc
         limit $4`,
        [query.unread === 'true', after?.[0] ?? null, after?.[1] ?? null, query.limit + 1],
      );
      const [count] = await tx.query<{ n: number }>('select count(*)::int as n from public.notifications where read_at is null');
      return { rows, unread: count?.n ?? 0 };
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return c.json(
      {
        notifications: page.map(toNotification),
        unread_count: unread,
        next_cursor: rows.length > query.limit && last ? encodeCursor([last.cursor_at, last.id]) : null,
      },
      200,
    );
  });

  app.openapi({ ...markAllNotificationsReadRoute, middleware: [requireUser()] }, async (c) => {
    const [row] = await withDb(c, (tx) =>
      tx.query<{ n: number }>('with u as (update public.notifications set read_at = now() where read_at is null returning 1) select count(*)::int as n from u'),
    );
    return c.json({ marked: row?.n ?? 0, unread_count: 0 as const }, 200);
  });

  app.openapi({ ...markNotificationReadRoute, middleware: [requireUser()] }, async (c) => {
    const { id } = c.req.valid('param');
    const notification = await withDb(c, async (tx) => {
      // Only an unread one is updated: marking twice keeps the first read time and broadcasts nothing new.
      await tx.query('update public.notifications set read_at = now() where id = $1 and read_at is null', [id]);
      const [row] = await tx.query<NotificationRow>(`select ${COLUMNS} from public.notifications n where n.id = $1`, [id]);
      if (!row) throw notFound('notification not found');
      return toNotification(row);
    });
    return c.json(notification, 200);
  });
}
