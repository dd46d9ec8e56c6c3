import type { AccessPolicy } from '../storage/access';
import type { BlobStore } from '../storage/blobStore';

/** What every activity needs: the app's storage, the container of the job folders, where jobs may go. */
export interface ActivityDeps {
  store: BlobStore;
  logsContainer: string;
  access: AccessPolicy;
}
