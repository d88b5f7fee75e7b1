import type { Command } from '../Command.js';
import { audit } from './audit.js';
import { create } from './create.js';
import { get } from './get.js';
import { list } from './list.js';
import { reportLeaked } from './reportLeaked.js';
import { revoke } from './revoke.js';
import { revokeUser } from './revokeUser.js';
import { rotate } from './rotate.js';
import { scopes } from './scopes.js';
import { resume, suspend } from './setEnabled.js';
import { update } from './update.js';
import { usage } from './usage.js';
import { verify } from './verify.js';

/** Every command, in the order `apikeys --help` lists them. */
export const COMMANDS: readonly Command[] = [
  create,
  list,
  get,
  update,
  suspend,
  resume,
  revoke,
  rotate,
  revokeUser,
  reportLeaked,
  scopes,
  audit,
  usage,
  verify,
];
