// `slipway dashboard`: where the web dashboard of the running server is, and how to
// sign in. The page itself is served by the server (src/api/ui-routes.ts).

import type { Command } from 'commander';
import type { CommandContext } from './config-commands.ts';

export function registerDashboardCommands(program: Command, ctx: CommandContext): void {
  program
    .command('dashboard')
    .description('print the address of the web dashboard of the running server')
    .addHelpText('after', '\nSign in on the page with an API token (slipway token create, or admin.token in the data directory).\nThe token stays in that browser tab only; it is never put in a URL.')
    .action(async (_o: unknown, cmd: Command) => {
      const api = ctx.client(cmd);
      const who = await api.whoami();
      const url = `${api.baseUrl}/ui/`;
      ctx.out(cmd, { url, user: who.user, role: who.role }, () => `${url}\nsign in with an API token; yours is ${who.user} (${who.role})`);
    });
}
