// Chaos, blue-green: the server is killed with SIGKILL at every step boundary and at
// least once mid-step; each time a new server takes over. The rollout must complete
// with 0 failed requests and no duplicate or orphaned instances. One file per
// strategy, so that the two workers share them (test/support/chaos-suite.ts).

import { describeChaos } from './support/chaos-suite.ts';

describeChaos('blue-green');
