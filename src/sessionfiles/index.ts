/**
 * Offline reader for Telegram `.session` files (Telethon v1/v2, Pyrogram and
 * its Kurigram fork) and their optional sidecar JSON: the module's public
 * face. Reading one file is ./read.ts; the worker-thread pool that reads many
 * is ./pool.ts (speaking ./protocol.ts with ./readerWorker.ts); proxies are
 * ./proxy.ts. Nothing here imports this file back (lint's import-x/no-cycle).
 */
export { normalizeProxy, parseProxyUrl, maskProxy, ProxyFormatError } from './proxy';
export { createSessionFileReaderPool, type SessionFileReaderPool, type SessionFileReaderPoolOptions } from './pool';
export { fileSignature } from './signature';
export { readSessionFile, type ReadSessionFileOptions, type SessionFileInfo } from './read';
export { authKeyId } from './read';
