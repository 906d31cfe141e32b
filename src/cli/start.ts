import { instanceActionCommand } from './instance-command.js';

export const command = instanceActionCommand('start');
