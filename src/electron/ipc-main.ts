// The main-process side of src/contract/ipc.ts: the only place that calls ipcMain / webContents.send, with
// the channel's types, so a handler cannot answer what the preload does not expect. Arguments from the
// window are checked with zod (the window is sandboxed, but still the less trusted side).
import { ipcMain, type WebContents } from 'electron';
import { z } from 'zod';
import type { EventChannel, IpcEventChannels, IpcInvokeChannels, InvokeChannel } from '../contract/ipc.js';

const ARGS: { [C in InvokeChannel]: z.ZodType<IpcInvokeChannels[C]['args']> } = {
  'mesh:open-dialog': z.tuple([]),
  'mesh:open-file': z.tuple([z.string().min(1).max(4096)]),
  'mesh:state': z.tuple([]),
  'mesh:recent': z.tuple([]),
};

export type InvokeHandlers = { [C in InvokeChannel]: (...args: IpcInvokeChannels[C]['args']) => Promise<IpcInvokeChannels[C]['result']> | IpcInvokeChannels[C]['result'] };

export function handleInvokes(handlers: InvokeHandlers, trustedUrl: () => string | null): void {
  for (const channel of Object.keys(ARGS) as InvokeChannel[]) {
    ipcMain.handle(channel, (event, ...raw: unknown[]) => {
      // Only the window showing our own UI may ask.
      const origin = trustedUrl();
      if (!origin || !event.senderFrame?.url.startsWith(origin)) throw new Error(`${channel}: refused from ${event.senderFrame?.url ?? 'unknown frame'}`);
      const args = ARGS[channel].parse(raw) as never[];
      return (handlers[channel] as (...a: never[]) => unknown)(...args);
    });
  }
}

export function send<C extends EventChannel>(contents: WebContents | null | undefined, channel: C, payload: IpcEventChannels[C]): void {
  if (contents && !contents.isDestroyed()) contents.send(channel, payload);
}
