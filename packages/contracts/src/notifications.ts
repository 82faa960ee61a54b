import { createRoute, z } from '@hono/zod-openapi';
import { errorResponses, jsonResponse, PageInfo, PageQuery, Timestamp, Uuid } from './common.ts';
import { VOCABULARY } from './vocabulary.ts';

// Notifications of the `accounts` function: what the backend tells a user about their accounts
// (connected, went silent, could not be started, cashback settled). Written by the database
// (triggers and cron functions), broadcast live on `user:<uuid>` (event `notifications`), read and
// marked read here.

export const NotificationKind = z.enum(VOCABULARY.notification_kind).openapi('NotificationKind');
export type NotificationKind = z.infer<typeof NotificationKind>;

export const Notification = z
  .object({
    id: Uuid,
    kind: NotificationKind,
    title: z.string(),
    body: z.string(),
    account_id: Uuid.nullable().openapi({ description: 'The trading account it is about, if any' }),
    created_at: Timestamp,
    read_at: Timestamp.nullable().openapi({ description: 'When the user marked it read; null while unread' }),
  })
  .openapi('Notification');
export type Notification = z.infer<typeof Notification>;

export const ListNotificationsQuery = PageQuery.extend({
  unread: z.enum(['true', 'false']).optional().openapi({ description: '`true`: only unread ones; `false` or omitted: all' }),
});
export const NotificationList = z
  .object({
    notifications: z.array(Notification).openapi({ description: 'Newest first' }),
    unread_count: z.number().int().openapi({ description: 'Unread notifications in all (not only on this page): the badge' }),
  })
  .extend(PageInfo.shape)
  .openapi('NotificationList');
export type NotificationList = z.infer<typeof NotificationList>;

export const NotificationIdParam = z.object({ id: Uuid });
export const MarkedAllRead = z
  .object({ marked: z.number().int().openapi({ description: 'Notifications marked read by this call' }), unread_count: z.literal(0) })
  .openapi('MarkedAllRead');
export type MarkedAllRead = z.infer<typeof MarkedAllRead>;

const user = [{ userJwt: [] }];

export const listNotificationsRoute = createRoute({
  method: 'get',
  path: '/notifications',
  summary: 'Your notifications, newest first (`unread=true` for the unread ones)',
  security: user,
  request: { query: ListNotificationsQuery },
  responses: { 200: jsonResponse(NotificationList, 'One page; pass next_cursor to get the next'), ...errorResponses },
});
export const markNotificationReadRoute = createRoute({
  method: 'post',
  path: '/notifications/{id}/read',
  summary: 'Mark one notification read (again: no change, read_at stays the first time)',
  security: user,
  request: { params: NotificationIdParam },
  responses: { 200: jsonResponse(Notification, 'The notification'), ...errorResponses },
});
export const markAllNotificationsReadRoute = createRoute({
  method: 'post',
  path: '/notifications/read-all',
  summary: 'Mark every unread notification read',
  security: user,
  responses: { 200: jsonResponse(MarkedAllRead, 'How many were marked'), ...errorResponses },
});
