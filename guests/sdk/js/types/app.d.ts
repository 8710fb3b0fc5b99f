// world nimbus:platform/app@0.2.0
export type * as NimbusPlatformAuthAdmin020 from './interfaces/nimbus-platform-auth-admin.js'; // import nimbus:platform/auth-admin@0.2.0
export type * as NimbusPlatformAuth020 from './interfaces/nimbus-platform-auth.js'; // import nimbus:platform/auth@0.2.0
export type * as NimbusPlatformConfig020 from './interfaces/nimbus-platform-config.js'; // import nimbus:platform/config@0.2.0
export type * as NimbusPlatformKeyValue020 from './interfaces/nimbus-platform-key-value.js'; // import nimbus:platform/key-value@0.2.0
export type * as NimbusPlatformObjectStore020 from './interfaces/nimbus-platform-object-store.js'; // import nimbus:platform/object-store@0.2.0
export type * as NimbusPlatformQueue020 from './interfaces/nimbus-platform-queue.js'; // import nimbus:platform/queue@0.2.0
export type * as NimbusPlatformTypes020 from './interfaces/nimbus-platform-types.js'; // import nimbus:platform/types@0.2.0
export * as httpHandler from './interfaces/nimbus-platform-http-handler.js'; // export nimbus:platform/http-handler@0.2.0
export * as eventHandler from './interfaces/nimbus-platform-event-handler.js'; // export nimbus:platform/event-handler@0.2.0
