import { cancellationCases } from './cases/cancellationCases.js';
import { changeFeedCases } from './cases/changeFeedCases.js';
import { concurrencyCases } from './cases/concurrencyCases.js';
import { keyAndTransactionCases } from './cases/keyAndTransactionCases.js';
import { keyPatchCases } from './cases/keyPatchCases.js';
import { lastUsedCases } from './cases/lastUsedCases.js';
import { listingCases } from './cases/listingCases.js';
import { usageCases } from './cases/usageCases.js';
import { type ContractTarget, useContractTarget } from './keyRepository.contract.js';

/** Declares every KeyRepository contract case against `target`. */
export function defineKeyRepositoryContract(target: ContractTarget): void {
  const subject = useContractTarget(target);
  keyAndTransactionCases(subject);
  changeFeedCases(subject);
  lastUsedCases(subject);
  usageCases(subject);
  listingCases(subject);
  keyPatchCases(subject);
  concurrencyCases(subject, target.capabilities);
  cancellationCases(subject, target.capabilities);
}
