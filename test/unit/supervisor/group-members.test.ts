import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runningGroupMembers } from '../../../src/supervisor/group-members.js';
import { waitUntil } from './fixtures.js';

describe('process group members', () => {
  it('counts the running members of a group and nothing once they are killed', async () => {
    const leader = spawn('sh', ['-c', 'sleep 30 & sleep 30'], { detached: true, stdio: 'ignore' });
    try {
      await waitUntil(() => runningGroupMembers(leader.pid!) === 3, 5_000, 'sh and two sleeps run');
      process.kill(-leader.pid!, 'SIGKILL');
      await waitUntil(() => runningGroupMembers(leader.pid!) === 0, 5_000, 'the group is gone');
    } finally {
      try {
        process.kill(-leader.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
});
