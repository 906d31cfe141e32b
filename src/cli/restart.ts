import { instanceActionCommand } from '../control/instance-command.js';

export const command = instanceActionCommand('restart');
